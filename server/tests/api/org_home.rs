//! Issue 19, item 11: `/o/{org}/` is a page in the org's branding (the hosted pages' template
//! and stylesheet) leading to sign-in, sign-up when it is open, and the account page.

use crate::browser::Browser;
use crate::email::UA;
use crate::helpers::{TestApp, org_with_alice};
use portcullis::tenancy::{SignupMode, SignupPolicy};

both_backends!(
    the_org_root_is_a_branded_page_leading_to_sign_in,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        org_with_alice(&app, "globex").await;
        app.state
            .orgs
            .update(
                "acme",
                Some("Acme <Corp>"),
                Some("https://cdn.acme.test/logo.svg"),
                Some("#ff8800"),
                "test",
            )
            .await
            .unwrap();
        let mut b = Browser::new(&app.address, UA);

        for path in ["/o/acme/", "/o/acme"] {
            let page = b.get(path).await;
            assert_eq!(page.status, 200, "{path}");
            let html = &page.body;
            // The hosted pages' stylesheet, the org's branding and name (escaped), its logo.
            assert!(html.contains("href=\"/assets/portcullis.css\""), "{html}");
            assert!(html.contains("href=\"/o/acme/branding.css\""), "{html}");
            assert!(html.contains("Acme &#60;Corp&#62;"), "{html}");
            assert!(!html.contains("Acme <Corp>"), "the name is escaped");
            assert!(
                html.contains("src=\"https://cdn.acme.test/logo.svg\""),
                "{html}"
            );
            // Where to go from here, and the issuer for developers.
            assert!(html.contains("href=\"/o/acme/login\""), "{html}");
            assert!(html.contains("href=\"/o/acme/account\""), "{html}");
            assert!(html.contains(&app.issuer("acme")), "{html}");
            // Sign-up is off by default: no link to it.
            assert!(!html.contains("/o/acme/signup"), "{html}");
            assert!(!html.contains("/o/globex"), "only this org's links");
        }
        assert!(b.get("/o/acme/branding.css").await.body.contains("#ff8800"));
        // The links lead somewhere.
        assert_eq!(b.get("/o/acme/login").await.status, 200);

        // Open sign-up shows the way to it.
        let open = SignupPolicy {
            mode: SignupMode::Open,
            require_verified_email: true,
        };
        app.state.orgs.set_signup(&org, open, "test").await.unwrap();
        let page = b.get("/o/acme/").await;
        assert!(
            page.body.contains("href=\"/o/acme/signup\""),
            "{}",
            page.body
        );
        // Another org's page is its own, and an unknown org has none.
        let globex = b.get("/o/globex/").await;
        assert_eq!(globex.status, 200);
        assert!(!globex.body.contains("/o/globex/signup"));
        assert!(!globex.body.contains("logo.svg"));
        assert_eq!(b.get("/o/nowhere/").await.status, 404);
    }
);
