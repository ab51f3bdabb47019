//! Issue 14, the OIDC provider's items: `max_age` parsed into a bounded range (a huge value
//! panicked the handler), `acr_values` compared as levels (a `phr` request got a `2fa` code),
//! client credentials narrowed to the scopes a service app may have (any scope asked was
//! granted), and offline access for third-party apps only when asked for and consented to (a
//! bare `openid` request got a refresh token and an app session that outlived sign-out).

use crate::browser::{Browser, Page};
use crate::helpers::{
    Rp, TestApp, idp_session, jwt_claims, local_path, org_with_alice, pkce, query_params,
};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp, SessionProfile};
use portcullis::clock::Clock;
use portcullis::sessions::{ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The error a redirect back to the app carries, if any.
fn error_of(page: &Page) -> Option<String> {
    query_params(page.location()).get("error").cloned()
}

both_backends!(max_age_out_of_range_is_bounded_not_a_panic, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "web").await;
    let mut b = Browser::new(&app.address, UA);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);

    // i64::MAX seconds, and a number past any integer type: no session is that old, so the
    // request is answered as if there were no limit (OIDC Core §3.1.2.1 allows any
    // non-negative integer; a bigger one asks for nothing more).
    for huge in ["9223372036854775807", "99999999999999999999999999"] {
        let page = b.get(&rp.authorize_path(&[("max_age", huge)])).await;
        assert_eq!(page.status, 303, "max_age={huge}: {}", page.body);
        assert!(
            page.location().starts_with(&rp.redirect_uri),
            "max_age={huge}: {}",
            page.location()
        );
        assert!(
            query_params(page.location()).contains_key("code"),
            "max_age={huge}: {}",
            page.location()
        );
    }
    // Not a non-negative integer: invalid_request, back at the (validated) redirect URI.
    for bad in ["-1", "1e3", "12abc", "-9223372036854775808"] {
        let page = b.get(&rp.authorize_path(&[("max_age", bad)])).await;
        assert_eq!(page.status, 303, "max_age={bad}: {}", page.body);
        assert!(page.location().starts_with(&rp.redirect_uri));
        assert_eq!(error_of(&page).as_deref(), Some("invalid_request"), "{bad}");
        assert_eq!(
            query_params(page.location())
                .get("state")
                .map(String::as_str),
            Some("st-1")
        );
    }
    // A small max_age still demands a fresh sign-in once the session is older.
    app.clock.advance(chrono::Duration::seconds(120));
    let page = b.get(&rp.authorize_path(&[("max_age", "60")])).await;
    assert_eq!(page.status, 303);
    assert!(
        local_path(page.location()).starts_with("/o/acme/login?"),
        "{}",
        page.location()
    );

    // The app's own re-authentication rule is bounded as well (it fed the same arithmetic).
    let mut req = CreateApp::new("Huge", AppType::Web);
    req.redirect_uris = vec!["http://127.0.0.1:9/huge/callback".into()];
    let mut rules = SessionProfile::Standard.preset();
    rules.reauth_max_age_secs = Some(i64::MAX);
    req.rules = Some(rules);
    assert!(
        app.state.apps.create(&org, req, "test").await.is_err(),
        "a re-authentication max age of i64::MAX seconds is refused"
    );
});

both_backends!(
    acr_values_are_compared_as_levels_never_downgraded,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = Rp::web(&app, &org, "web").await;
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);

        // Password + security key: the session is 2fa.
        let session = idp_session(&app, &org, &b).await;
        app.state
            .sessions
            .record_webauthn(org.id, &session, app.clock.now())
            .await
            .unwrap();

        // phr asked of a 2fa session: no code (it would say 2fa), a fresh sign-in instead.
        let page = b
            .get(&rp.authorize_path(&[("acr_values", ACR_PHISHING_RESISTANT)]))
            .await;
        assert_eq!(page.status, 303);
        assert!(
            !page.location().starts_with(&rp.redirect_uri),
            "a code for a phr request from a 2fa session: {}",
            page.location()
        );
        let login = local_path(page.location());
        assert!(login.starts_with("/o/acme/login?"), "{login}");
        assert_eq!(
            query_params(&login).get("reauth").map(String::as_str),
            Some("1")
        );
        // With prompt=none: an error at the app, never a lower acr.
        let page = b
            .get(&rp.authorize_path(&[("acr_values", ACR_PHISHING_RESISTANT), ("prompt", "none")]))
            .await;
        assert_eq!(page.status, 303);
        assert!(page.location().starts_with(&rp.redirect_uri));
        assert_eq!(error_of(&page).as_deref(), Some("login_required"));

        let mut one = Browser::new(&app.address, UA);
        assert_eq!(
            one.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        // A one-factor session asked for phr: a step-up would only make it 2fa, so a fresh
        // sign-in (with a passkey) is what can satisfy it.
        let page = one
            .get(&rp.authorize_path(&[("acr_values", ACR_PHISHING_RESISTANT)]))
            .await;
        assert_eq!(page.status, 303);
        let login = local_path(page.location());
        assert!(login.starts_with("/o/acme/login?"), "{login}");
        assert_eq!(
            query_params(&login).get("reauth").map(String::as_str),
            Some("1")
        );

        // Levels at or below the session's are met: 2fa, 1fa, and "2fa or phr" (either will do).
        for asked in [
            ACR_TWO_FACTORS.to_owned(),
            ACR_ONE_FACTOR.to_owned(),
            format!("{ACR_PHISHING_RESISTANT} {ACR_TWO_FACTORS}"),
        ] {
            let (challenge, verifier) = pkce();
            let page = b
                .get(&rp.authorize_path(&[
                    ("acr_values", asked.as_str()),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ]))
                .await;
            assert_eq!(page.status, 303);
            let q = query_params(page.location());
            let code = q
                .get("code")
                .unwrap_or_else(|| panic!("{asked}: {}", page.location()));
            let answer = rp.exchange(code, Some(&verifier)).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            let id = jwt_claims(&answer.str("id_token"));
            assert_eq!(id["acr"], ACR_TWO_FACTORS, "{asked}: {id}");
        }
    }
);

both_backends!(
    client_credentials_grant_only_the_scopes_a_service_app_may_have,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = app
            .state
            .orgs
            .create("acme", Some("Acme"), "test")
            .await
            .unwrap();
        let svc = Rp::register(&app, &org, CreateApp::new("Worker", AppType::Service)).await;

        // Scopes describe a user (openid, profile, email, offline_access) or nothing Portcullis
        // knows: none of them is the service app's to have.
        for asked in [
            "openid profile email offline_access",
            "openid",
            "offline_access",
            "admin",
            "openid admin",
        ] {
            let answer = svc
                .token(&[("grant_type", "client_credentials"), ("scope", asked)])
                .await;
            answer.assert_error(400, "invalid_scope");
            assert!(answer.json.get("access_token").is_none(), "{answer:?}");
        }
        // Without a scope (or an empty one) the app gets its token, with no scope in it.
        for form in [
            vec![("grant_type", "client_credentials")],
            vec![("grant_type", "client_credentials"), ("scope", "")],
        ] {
            let answer = svc.token(&form).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            assert_eq!(answer.json["scope"], "", "{answer:?}");
            assert_eq!(jwt_claims(&answer.str("access_token"))["scope"], "");
        }
    }
);
