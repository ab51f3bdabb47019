//! Issue 14, the OIDC provider's items: `max_age` parsed into a bounded range (a huge value
//! panicked the handler), `acr_values` compared as levels (a `phr` request got a `2fa` code),
//! client credentials narrowed to the scopes a service app may have (any scope asked was
//! granted), and offline access for third-party apps only when asked for and consented to (a
//! bare `openid` request got a refresh token and an app session that outlived sign-out).

use crate::browser::{Browser, Page};
use crate::helpers::{
    Rp, TestApp, html_attr_after, idp_session, jwt_claims, local_path, org_with_alice, pkce,
    query_params, submit_login,
};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp, SessionProfile};
use portcullis::clock::Clock;
use portcullis::sessions::{ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS, EndReason};

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

        // phr asked of a user without a passkey: nothing can meet it, so the app hears so
        // (it used to send the user back to sign in, again and again).
        let page = b
            .get(&rp.authorize_path(&[("acr_values", ACR_PHISHING_RESISTANT)]))
            .await;
        assert_eq!(page.status, 303);
        assert!(
            page.location().starts_with(&rp.redirect_uri),
            "{}",
            page.location()
        );
        assert_eq!(
            error_of(&page).as_deref(),
            Some("unmet_authentication_requirements")
        );
        // From here on alice has a passkey (only its existence matters to /authorize).
        let session = idp_session(&app, &org, &b).await;
        app.state
            .store
            .insert_credential(
                org.id,
                session.user_id,
                "a-passkey",
                "passkey",
                "Laptop",
                "{}",
                None,
                None,
                app.clock.now(),
            )
            .await
            .unwrap();

        // Password + security key: the session is 2fa.
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

/// Signs in through the authorize request (password), answers the consent screen with "allow"
/// when it shows and returns its list of scopes (empty when it did not show) and the token
/// answer of the code exchange.
async fn consent_and_exchange(
    b: &mut Browser,
    rp: &Rp,
    scope: &str,
) -> (Vec<String>, crate::helpers::Answer) {
    let (challenge, verifier) = pkce();
    let mut page = b
        .get(&rp.authorize_path(&[
            ("scope", scope),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let mut listed = Vec::new();
    for _ in 0..6 {
        if page.status == 303 && page.location().starts_with(&rp.redirect_uri) {
            break;
        }
        if page.status == 303 {
            page = b.get(&local_path(page.location())).await;
            continue;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body.contains("name=\"password\"") {
            page = submit_login(b, "acme", &page).await;
            continue;
        }
        let list = page
            .body
            .split("data-testid=\"consent-scopes\">")
            .nth(1)
            .and_then(|rest| rest.split("</ul>").next())
            .unwrap_or_else(|| panic!("a consent page: {}", page.body));
        listed = list
            .split("<li>")
            .skip(1)
            .map(|li| li.split("</li>").next().unwrap_or("").trim().to_owned())
            .collect();
        let return_to = html_attr_after(&page.body, "name=\"return_to\"", "value");
        page = b
            .post(
                "/o/acme/consent",
                &[
                    ("csrf", page.csrf().as_str()),
                    ("return_to", return_to.as_str()),
                    ("decision", "allow"),
                ],
            )
            .await;
    }
    let q = query_params(page.location());
    let code = q
        .get("code")
        .unwrap_or_else(|| panic!("a code: {}", page.location()));
    (listed, rp.exchange(code, Some(&verifier)).await)
}

const OFFLINE_TEXT: &str = "Stay signed in to it while you are away";

both_backends!(
    third_party_apps_get_offline_access_only_when_asked_and_consented,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        // A standard app: its sessions may outlive the IdP session, if it may stay offline.
        let mut req = CreateApp::new("Partner Reports", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/partner/callback".into()];
        req.first_party = false;
        let partner = Rp::register(&app, &org, req).await;
        let own = Rp::web(&app, &org, "own").await;
        let mut b = Browser::new(&app.address, UA);

        // openid alone: the consent page says nothing about staying signed in, and no refresh
        // token comes back.
        let (listed, answer) = consent_and_exchange(&mut b, &partner, "openid").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(!listed.iter().any(|s| s == OFFLINE_TEXT), "{listed:?}");
        assert!(
            answer.json.get("refresh_token").is_none(),
            "a refresh token without offline_access consented: {answer:?}"
        );
        let online_access = answer.str("access_token");
        assert!(partner.active(&online_access).await);

        // offline_access asked: the consent page asks again and lists it; then a refresh token.
        let (listed, answer) =
            consent_and_exchange(&mut b, &partner, "openid offline_access").await;
        assert!(listed.iter().any(|s| s == OFFLINE_TEXT), "{listed:?}");
        assert_eq!(answer.status, 200, "{answer:?}");
        let offline_refresh = answer.str("refresh_token");
        assert!(
            answer
                .str("scope")
                .split(' ')
                .any(|s| s == "offline_access"),
            "{answer:?}"
        );

        // A first-party app keeps today's behaviour: a refresh token without asking.
        let (listed, answer) = consent_and_exchange(&mut b, &own, "openid").await;
        assert!(listed.is_empty(), "no consent page for a first-party app");
        let own_refresh = answer.str("refresh_token");

        // Sign-out: the online app session ends with the IdP session; the consented offline one
        // and the first-party one go on.
        let session = idp_session(&app, &org, &b).await;
        app.state
            .sessions
            .end(org.id, session.id, EndReason::Logout, "test")
            .await
            .unwrap();
        assert!(
            !partner.active(&online_access).await,
            "an app session without offline access outlived sign-out"
        );
        let refreshed = partner.refresh(&offline_refresh).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");
        let refreshed = own.refresh(&own_refresh).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");

        // Made third party, the app's refresh token from before (no offline_access consented)
        // is refused: offline access is checked at every refresh, not only at the exchange.
        let registered = app
            .state
            .store
            .app_by_client_id(org.id, &own.client_id)
            .await
            .unwrap()
            .unwrap();
        let mut req = CreateApp::new("own", AppType::Web);
        req.redirect_uris = vec![own.redirect_uri.clone()];
        req.first_party = false;
        app.state
            .apps
            .update(&org, &registered, req, "test")
            .await
            .unwrap();
        own.refresh(&refreshed.str("refresh_token"))
            .await
            .assert_error(400, "invalid_grant");
    }
);
