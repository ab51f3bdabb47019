//! "Sign out everywhere" on the account page: every IdP session of the user ends (this one too),
//! every app session ends — a standard app's, which would outlive a plain sign-out, included —
//! and each app with a back-channel URI gets an outbox row.

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, org_with_alice};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

both_backends!(
    sign_out_everywhere_ends_every_session_and_app_session,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Catalog", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/catalog/callback".into()];
        req.backchannel_logout_uri = Some("http://127.0.0.1:9/catalog/backchannel".into());
        let catalog = Rp::register(&app, &org, req).await;

        // A plain sign-out leaves the standard app's session alive (it outlives the IdP session).
        let mut laptop = Browser::new(&app.address, UA);
        let first = catalog.sign_in(&mut laptop, &[]).await;
        let csrf = laptop.get("/o/acme/account").await.csrf();
        assert_eq!(
            laptop
                .post("/o/acme/logout", &[("csrf", &csrf)])
                .await
                .status,
            200
        );
        let refreshed = catalog.refresh(&first.refresh).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");
        let outlived = refreshed.str("refresh_token");

        // Two devices signed in again; the catalog on one of them.
        let mut phone = Browser::new(&app.address, UA);
        assert_eq!(
            phone.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        let second = catalog.sign_in(&mut laptop, &[]).await;
        let before = app
            .state
            .store
            .logout_deliveries(org.id)
            .await
            .unwrap()
            .len();

        let account = laptop.get("/o/acme/account").await;
        assert!(account.body.contains("data-testid=\"end-all\""));
        let done = laptop
            .post(
                "/o/acme/account/sessions/end-all",
                &[("csrf", &account.csrf())],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("data-testid=\"signed-out\""));

        // Both devices are signed out, and every catalog session is over.
        assert_eq!(laptop.get("/o/acme/account").await.status, 303);
        assert_eq!(phone.get("/o/acme/account").await.status, 303);
        catalog
            .refresh(&second.refresh)
            .await
            .assert_error(400, "invalid_grant");
        catalog
            .refresh(&outlived)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!catalog.active(&second.access).await);

        // The catalog is told about both of its sessions' IdP sessions.
        let rows = app.state.store.logout_deliveries(org.id).await.unwrap();
        let new: Vec<_> = rows[..rows.len() - before].to_vec();
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(
            new.iter().all(|d| d.reason == "user_signed_out_everywhere"),
            "{new:?}"
        );
        assert!(new.iter().all(|d| d.status == "pending"));
    }
);
