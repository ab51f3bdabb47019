//! Third-party apps: the consent screen, remembered per user and app, declined with
//! `access_denied`, `prompt=none` answered with `consent_required`, and revocable from the account
//! page (which ends the app's sessions of the user). First-party apps never ask.

use crate::browser::Browser;
use crate::helpers::{
    Rp, TestApp, Tokens, html_attr_after, local_path, org_with_alice, pkce, query_params,
    submit_login,
};
use portcullis::apps::{AppType, CreateApp};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

both_backends!(
    third_party_apps_ask_once_and_consent_is_revocable,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Partner Reports", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/partner/callback".into()];
        req.first_party = false;
        let rp = Rp::register(&app, &org, req).await;
        let first_party = Rp::web(&app, &org, "own").await;
        let mut b = Browser::new(&app.address, UA);

        // Sign in through the authorize request; then the consent screen shows (200, no code).
        let (challenge, verifier) = pkce();
        // offline_access: a third-party app gets a refresh token only when it was consented to.
        let pkce_params = [
            ("scope", "openid email profile offline_access"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let page = b.get(&rp.authorize_path(&pkce_params)).await;
        assert_eq!(page.status, 303);
        let login = b.get(&local_path(page.location())).await;
        let back = submit_login(&mut b, "acme", &login).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let consent = b.get(&local_path(back.location())).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains("Partner Reports"), "{}", consent.body);
        assert!(consent.body.contains("See your email address"));
        assert!(
            consent
                .body
                .contains("Stay signed in to it while you are away")
        );
        let header = consent
            .headers
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok());
        assert_eq!(header, Some("DENY"), "the consent page is not frameable");

        // prompt=none cannot show it: consent_required.
        let none = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
        let q = query_params(none.location());
        assert_eq!(q.get("error").map(String::as_str), Some("consent_required"));

        // A forged form (no CSRF token) is refused and grants nothing.
        let return_to = html_attr_after(&consent.body, "name=\"return_to\"", "value");
        let forged = b
            .post(
                "/o/acme/consent",
                &[("return_to", return_to.as_str()), ("decision", "allow")],
            )
            .await;
        assert_ne!(forged.status, 303, "{}", forged.body);

        // Deny → access_denied back at the app, with state and iss.
        let csrf = consent.csrf();
        let denied = b
            .post(
                "/o/acme/consent",
                &[
                    ("csrf", csrf.as_str()),
                    ("return_to", return_to.as_str()),
                    ("decision", "deny"),
                ],
            )
            .await;
        assert_eq!(denied.status, 303, "{}", denied.body);
        assert!(denied.location().starts_with(&rp.redirect_uri));
        let q = query_params(denied.location());
        assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
        assert_eq!(q.get("iss"), Some(&rp.issuer));
        assert!(!q.contains_key("code"));

        // Allow → a code; the exchange works.
        let consent = b.get(&rp.authorize_path(&pkce_params)).await;
        assert_eq!(consent.status, 200);
        let return_to = html_attr_after(&consent.body, "name=\"return_to\"", "value");
        let allowed = b
            .post(
                "/o/acme/consent",
                &[
                    ("csrf", consent.csrf().as_str()),
                    ("return_to", return_to.as_str()),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(allowed.status, 303, "{}", allowed.body);
        let q = query_params(allowed.location());
        let code = q.get("code").expect("a code after consent");
        let tokens = Tokens::of(&rp.exchange(code, Some(&verifier)).await);

        // Remembered: the next request (and prompt=none) gets a code without asking.
        let again = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
        assert_eq!(again.status, 303);
        assert!(
            query_params(again.location()).contains_key("code"),
            "{}",
            again.location()
        );
        // prompt=consent asks again even so.
        let ask = b.get(&rp.authorize_path(&[("prompt", "consent")])).await;
        assert_eq!(ask.status, 200, "{}", ask.body);
        // A first-party app never asks.
        let own = b.get(&first_party.authorize_path(&[])).await;
        assert_eq!(own.status, 303);
        assert!(query_params(own.location()).contains_key("code"));

        // The account page lists the consent; removing it ends the app's session of the user.
        let account = b.get("/o/acme/account").await;
        assert!(
            account.body.contains("data-testid=\"consent\""),
            "{}",
            account.body
        );
        assert!(account.body.contains("Partner Reports"));
        let registered = app
            .state
            .store
            .app_by_client_id(org.id, &rp.client_id)
            .await
            .unwrap()
            .unwrap();
        let removed = b
            .post(
                &format!("/o/acme/account/consents/{}/revoke", registered.id),
                &[("csrf", account.csrf().as_str())],
            )
            .await;
        assert_eq!(removed.status, 303, "{}", removed.body);
        let account = b.get("/o/acme/account").await;
        assert!(
            account.body.contains("data-testid=\"no-consents\""),
            "{}",
            account.body
        );
        rp.refresh(&tokens.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!rp.active(&tokens.access).await);
        let none = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
        assert_eq!(
            query_params(none.location())
                .get("error")
                .map(String::as_str),
            Some("consent_required")
        );
    }
);
