//! The device authorization grant (RFC 8628) over real HTTP: a native app asks for codes at
//! `/device_authorization`, a signed-in browser types the user code on `/o/{org}/device`,
//! sees the app and approves or denies, and the app polls the token endpoint (pending,
//! slow_down, access_denied, expired_token, tokens once). Time moves on the injected clock.

use crate::browser::{Browser, Page};
use crate::helpers::{
    Answer, Rp, TestApp, html_attr_after, html_unescape, idp_session, jwt_claims, local_path,
    org_with_alice, submit_login,
};
use chrono::Duration;
use portcullis::apps::{AppType, CreateApp, GrantType, SessionProfile};
use portcullis::tenancy::Org;
use serde_json::Value;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const NOT_RECOGNISED: &str = "That code was not recognised";

/// A public native app with the device grant (and refresh tokens), no redirect URI.
async fn tv_app(app: &TestApp, org: &Org, tweak: impl FnOnce(&mut CreateApp)) -> Rp {
    let mut req = CreateApp::new("Living Room TV", AppType::Native);
    req.grant_types = Some(vec![GrantType::DeviceCode, GrantType::RefreshToken]);
    tweak(&mut req);
    Rp::register(app, org, req).await
}

/// `POST /o/{org}/device_authorization` as the app (client_id in the form: a public app).
async fn start(app: &TestApp, rp: &Rp, scope: &str) -> Answer {
    let mut req = app
        .client
        .post(format!("{}/o/{}/device_authorization", app.address, rp.org));
    let mut form = vec![("scope", scope)];
    match &rp.secret {
        Some(secret) => req = req.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", rp.client_id.as_str())),
    }
    Answer::read(req.form(&form).send().await.unwrap()).await
}

/// A started device authorization: (device_code, user_code).
async fn codes(app: &TestApp, rp: &Rp) -> (String, String) {
    let a = start(app, rp, "openid profile offline_access").await;
    assert_eq!(a.status, 200, "{a:?}");
    (a.str("device_code"), a.str("user_code"))
}

async fn poll(rp: &Rp, device_code: &str) -> Answer {
    rp.token(&[("grant_type", GRANT), ("device_code", device_code)])
        .await
}

async fn signed_in(app: &TestApp, org: &str) -> Browser {
    let mut b = Browser::new(&app.address, UA);
    let page = b
        .sign_in(org, crate::signin::EMAIL, crate::signin::PASSWORD, false)
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    b
}

/// Types `user_code` on the org's device page (fetched first for its CSRF token).
async fn enter(b: &mut Browser, org: &str, user_code: &str) -> Page {
    let form = b.get(&format!("/o/{org}/device")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    b.post(
        &format!("/o/{org}/device"),
        &[("csrf", csrf.as_str()), ("user_code", user_code)],
    )
    .await
}

/// Answers the confirmation page `confirm` with `decision` (`approve` or `deny`).
async fn answer(b: &mut Browser, org: &str, confirm: &Page, decision: &str) -> Page {
    let csrf = confirm.csrf();
    let code = html_attr_after(&confirm.body, "name=\"user_code\"", "value");
    b.post(
        &format!("/o/{org}/device"),
        &[
            ("csrf", csrf.as_str()),
            ("user_code", code.as_str()),
            ("decision", decision),
        ],
    )
    .await
}

fn later(app: &TestApp, secs: i64) {
    app.clock.advance(Duration::seconds(secs));
}

both_backends!(
    a_signed_in_user_approves_and_the_device_gets_tokens_once,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = tv_app(&app, &org, |_| {}).await;

        let started = start(&app, &rp, "openid profile offline_access").await;
        assert_eq!(started.status, 200, "{started:?}");
        assert_eq!(started.header("cache-control"), "no-store");
        let device_code = started.str("device_code");
        let user_code = started.str("user_code");
        assert!(device_code.len() >= 43, "{device_code}");
        let shape = user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && user_code
                .chars()
                .filter(|c| *c != '-')
                .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c));
        assert!(shape, "{user_code}");
        let verification_uri = format!("{}/device", app.issuer("acme"));
        assert_eq!(started.str("verification_uri"), verification_uri);
        assert_eq!(
            started.str("verification_uri_complete"),
            format!("{verification_uri}?user_code={user_code}")
        );
        assert_eq!(started.json["expires_in"], 600);
        assert_eq!(started.json["interval"], 5);

        // Before the user answers: pending.
        poll(&rp, &device_code)
            .await
            .assert_error(400, "authorization_pending");

        // The link of the QR code, in a browser not signed in: sign in first, then back to the
        // page with the code filled in.
        let mut b = Browser::new(&app.address, UA);
        let page = b
            .get(&local_path(&started.str("verification_uri_complete")))
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            page.location().contains("/o/acme/login?"),
            "{}",
            page.location()
        );
        let login = b.get(page.location()).await;
        let back = submit_login(&mut b, "acme", &login).await;
        assert_eq!(back.status, 303, "{}", back.body);
        assert_eq!(
            back.location(),
            format!("/o/acme/device?user_code={user_code}")
        );
        let form = b.get(back.location()).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert_eq!(
            html_attr_after(&form.body, "name=\"user_code\"", "value"),
            user_code
        );
        // Opening the link approves nothing.
        later(&app, 5);
        poll(&rp, &device_code)
            .await
            .assert_error(400, "authorization_pending");

        // A forged form (no CSRF token) is refused before anything is looked up.
        let forged = b
            .post(
                "/o/acme/device",
                &[("user_code", user_code.as_str()), ("decision", "approve")],
            )
            .await;
        assert_eq!(forged.status, 403, "{}", forged.body);

        // Typed in lower case without the dash: the app's name and its scopes, then Approve.
        let typed = user_code.replace('-', "").to_lowercase();
        let confirm = enter(&mut b, "acme", &typed).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        let body = html_unescape(&confirm.body);
        assert!(body.contains("Living Room TV"), "{body}");
        assert!(body.contains(&user_code), "{body}");
        assert!(body.contains("See your name"), "{body}");
        assert!(
            body.contains("Stay signed in to it while you are away"),
            "{body}"
        );
        let done = answer(&mut b, "acme", &confirm, "approve").await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Device connected"), "{}", done.body);

        // The next poll on time gets the tokens, bound to the approving IdP session.
        later(&app, 5);
        let tokens = poll(&rp, &device_code).await;
        assert_eq!(tokens.status, 200, "{tokens:?}");
        assert_eq!(tokens.header("cache-control"), "no-store");
        let idp = idp_session(&app, &org, &b).await;
        let id = jwt_claims(&tokens.str("id_token"));
        assert_eq!(id["aud"], rp.client_id.as_str());
        assert_eq!(id["iss"], app.issuer("acme").as_str());
        assert_eq!(id["sid"], idp.id.to_string().as_str());
        assert_eq!(id["auth_time"], idp.auth_time.timestamp());
        assert_eq!(id["acr"], idp.acr());
        assert_eq!(id["name"], "Alice");
        assert!(id.get("nonce").is_none(), "{id}");
        assert_eq!(tokens.json["scope"], "openid profile offline_access");
        let access = tokens.str("access_token");
        assert_eq!(jwt_claims(&access)["sid"], idp.id.to_string().as_str());
        let me = rp.userinfo(&access).await;
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(me.json["sub"], id["sub"]);
        // A refresh token works as after a code exchange.
        let refreshed = rp.refresh(&tokens.str("refresh_token")).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");

        // The device code is used up: a second use gets nothing.
        later(&app, 5);
        poll(&rp, &device_code)
            .await
            .assert_error(400, "invalid_grant");
        // And its user code is no longer recognised.
        let again = enter(&mut b, "acme", &user_code).await;
        assert!(again.body.contains(NOT_RECOGNISED), "{}", again.body);

        // The approval is audited, naming the user and the app; no code in it.
        let audit = app.state.store.recent_audit(org.id, 50).await.unwrap();
        let approved: Vec<&Value> = audit
            .iter()
            .filter(|(a, _)| a == "device.approved")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(approved.len(), 1, "{audit:?}");
        assert_eq!(approved[0]["sid"], idp.id.to_string().as_str());
        let text = format!("{audit:?}");
        assert!(
            !text.contains(&device_code) && !text.contains(&user_code),
            "{text}"
        );
    }
);

both_backends!(a_device_polling_too_fast_is_slowed_down, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = tv_app(&app, &org, |_| {}).await;
    let (device_code, user_code) = codes(&app, &rp).await;

    poll(&rp, &device_code)
        .await
        .assert_error(400, "authorization_pending");
    // One second later: slow down, and the interval is now 10 s (RFC 8628 §3.5).
    later(&app, 1);
    let slow = poll(&rp, &device_code).await;
    slow.assert_error(400, "slow_down");
    // Five seconds after that is no longer enough: 15 s now.
    later(&app, 5);
    poll(&rp, &device_code).await.assert_error(400, "slow_down");
    later(&app, 14);
    poll(&rp, &device_code).await.assert_error(400, "slow_down");
    // Waiting the whole interval after the last poll: pending again.
    later(&app, 20);
    poll(&rp, &device_code)
        .await
        .assert_error(400, "authorization_pending");

    // Two polls at the same instant: one is recorded, the other was too fast.
    later(&app, 20);
    let (a, b) = tokio::join!(poll(&rp, &device_code), poll(&rp, &device_code));
    let mut errors = vec![a.error().to_owned(), b.error().to_owned()];
    errors.sort();
    assert_eq!(
        errors,
        ["authorization_pending", "slow_down"],
        "{a:?} {b:?}"
    );

    // Approved, then two polls at once: exactly one gets the tokens.
    let mut browser = signed_in(&app, "acme").await;
    let confirm = enter(&mut browser, "acme", &user_code).await;
    let done = answer(&mut browser, "acme", &confirm, "approve").await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    later(&app, 60);
    let (a, b) = tokio::join!(poll(&rp, &device_code), poll(&rp, &device_code));
    let granted = [&a, &b].iter().filter(|x| x.status == 200).count();
    assert_eq!(granted, 1, "{a:?} {b:?}");
    let other = if a.status == 200 { &b } else { &a };
    assert_eq!(other.status, 400, "{other:?}");
    assert!(
        ["slow_down", "invalid_grant"].contains(&other.error()),
        "{other:?}"
    );
    // One app session was started, not two.
    let idp = idp_session(&app, &org, &browser).await;
    let sessions = app
        .state
        .store
        .live_app_sessions_of(org.id, &[idp.id])
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
});

both_backends!(a_device_code_expires_and_is_swept, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = tv_app(&app, &org, |_| {}).await;
    let (device_code, user_code) = codes(&app, &rp).await;
    let mut b = signed_in(&app, "acme").await;

    // One second before the end the code still works; at the end it is expired.
    later(&app, 599);
    let confirm = enter(&mut b, "acme", &user_code).await;
    assert!(confirm.body.contains("Living Room TV"), "{}", confirm.body);
    later(&app, 1);
    poll(&rp, &device_code)
        .await
        .assert_error(400, "expired_token");
    // Approving it now changes nothing, and the page does not know the code any more.
    let late = answer(&mut b, "acme", &confirm, "approve").await;
    assert!(late.body.contains(NOT_RECOGNISED), "{}", late.body);
    later(&app, 10);
    poll(&rp, &device_code)
        .await
        .assert_error(400, "expired_token");

    // The sweeper deletes the row: the code is then simply unknown.
    app.state.sessions.sweep().await.unwrap();
    poll(&rp, &device_code)
        .await
        .assert_error(400, "invalid_grant");
});

both_backends!(a_denied_device_request_is_access_denied, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = tv_app(&app, &org, |_| {}).await;
    let (device_code, user_code) = codes(&app, &rp).await;
    let mut b = signed_in(&app, "acme").await;

    let confirm = enter(&mut b, "acme", &user_code).await;
    let denied = answer(&mut b, "acme", &confirm, "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.body);
    assert!(denied.body.contains("Request denied"), "{}", denied.body);
    poll(&rp, &device_code)
        .await
        .assert_error(400, "access_denied");
    // A denial is final: approving afterwards (the old page resubmitted) does nothing.
    let resubmitted = answer(&mut b, "acme", &confirm, "approve").await;
    assert!(
        resubmitted.body.contains(NOT_RECOGNISED),
        "{}",
        resubmitted.body
    );
    later(&app, 5);
    poll(&rp, &device_code)
        .await
        .assert_error(400, "access_denied");
    let audit = app.state.store.recent_audit(org.id, 50).await.unwrap();
    assert!(audit.iter().any(|(a, _)| a == "device.denied"), "{audit:?}");
    assert!(
        !audit.iter().any(|(a, _)| a == "device.approved"),
        "{audit:?}"
    );
});

both_backends!(a_user_code_of_another_org_is_not_recognised, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with_alice(&app, "acme").await;
    let globex = org_with_alice(&app, "globex").await;
    let acme_tv = tv_app(&app, &acme, |_| {}).await;
    let globex_tv = tv_app(&app, &globex, |_| {}).await;
    let (globex_device, globex_user) = codes(&app, &globex_tv).await;
    let (acme_device, acme_user) = codes(&app, &acme_tv).await;

    // Alice, signed in at acme, types globex's code at acme's page: the same answer as a code
    // that never existed.
    let mut b = signed_in(&app, "acme").await;
    let foreign = enter(&mut b, "acme", &globex_user).await;
    assert_eq!(foreign.status, 200, "{}", foreign.body);
    assert!(foreign.body.contains(NOT_RECOGNISED), "{}", foreign.body);
    assert!(!foreign.body.contains("device-approve"), "{}", foreign.body);
    let unknown = enter(&mut b, "acme", "BCDF-GHJK").await;
    assert!(unknown.body.contains(NOT_RECOGNISED), "{}", unknown.body);
    // Not even an answer posted straight away reaches it.
    let csrf = b.csrf_cookie("acme");
    let forced = b
        .post(
            "/o/acme/device",
            &[
                ("csrf", csrf.as_str()),
                ("user_code", globex_user.as_str()),
                ("decision", "approve"),
            ],
        )
        .await;
    assert!(forced.body.contains(NOT_RECOGNISED), "{}", forced.body);
    later(&app, 5);
    globex_tv
        .at_org(&app, "globex")
        .token(&[("grant_type", GRANT), ("device_code", &globex_device)])
        .await
        .assert_error(400, "authorization_pending");

    // Device codes are the org's and the app's too: acme's app cannot redeem globex's code,
    // and globex's app is unknown at acme.
    poll(&acme_tv, &globex_device)
        .await
        .assert_error(400, "invalid_grant");
    poll(&globex_tv.at_org(&app, "acme"), &acme_device)
        .await
        .assert_error(401, "invalid_client");
    // acme's own code still works at acme.
    let confirm = enter(&mut b, "acme", &acme_user).await;
    assert!(confirm.body.contains("Living Room TV"), "{}", confirm.body);
});

both_backends!(apps_without_the_device_grant_are_refused, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;

    // A web app with the default grants (code and refresh).
    let web = Rp::web(&app, &org, "portal").await;
    start(&app, &web, "openid")
        .await
        .assert_error(400, "unauthorized_client");
    poll(&web, "whatever-device-code")
        .await
        .assert_error(400, "unauthorized_client");
    // A wrong secret is invalid_client first, as at the token endpoint.
    let wrong = web.with_credentials(&web.client_id, Some("not-the-secret"));
    start(&app, &wrong, "openid")
        .await
        .assert_error(401, "invalid_client");

    // A confidential web app that opted in authenticates with its secret.
    let mut req = CreateApp::new("Kiosk Backend", AppType::Web);
    req.grant_types = Some(vec![GrantType::DeviceCode]);
    let kiosk = Rp::register(&app, &org, req).await;
    assert!(kiosk.secret.is_some());
    let started = start(&app, &kiosk, "openid").await;
    assert_eq!(started.status, 200, "{started:?}");
    // Without its secret it is not the app.
    start(
        &app,
        &kiosk.with_credentials(&kiosk.client_id, None),
        "openid",
    )
    .await
    .assert_error(401, "invalid_client");
    // No openid scope: invalid_scope.
    let tv = tv_app(&app, &org, |_| {}).await;
    start(&app, &tv, "profile")
        .await
        .assert_error(400, "invalid_scope");

    // Service and browser apps cannot opt in.
    for t in [AppType::Service, AppType::Spa] {
        let mut req = CreateApp::new("No", t);
        req.grant_types = Some(vec![GrantType::DeviceCode]);
        if t == AppType::Spa {
            req.redirect_uris = vec!["http://127.0.0.1:9/spa".into()];
        }
        let refused = app.state.apps.create(&org, req, "test").await;
        assert!(refused.is_err(), "{t:?}");
    }
});

both_backends!(the_apps_session_rules_apply_before_approval, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    // Privileged: MFA required and a sign-in no older than 15 minutes.
    let strict = tv_app(&app, &org, |r| {
        r.session_profile = SessionProfile::Privileged;
    })
    .await;
    let (device_code, user_code) = codes(&app, &strict).await;
    let mut b = signed_in(&app, "acme").await;

    // A password-only session: a step-up first, and the code comes back with it.
    let page = enter(&mut b, "acme", &user_code).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let body = html_unescape(&page.body);
    assert!(body.contains("needs a second factor"), "{body}");
    let encoded_back = format!("%2Fo%2Facme%2Fdevice%3Fuser_code%3D{user_code}");
    assert!(
        body.contains(&format!("/o/acme/login/step-up?return_to={encoded_back}")),
        "{body}"
    );
    assert!(!body.contains("device-approve"), "{body}");
    // Approving anyway is refused the same way.
    let csrf = b.csrf_cookie("acme");
    let forced = b
        .post(
            "/o/acme/device",
            &[
                ("csrf", csrf.as_str()),
                ("user_code", user_code.as_str()),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(forced.status, 403, "{}", forced.body);
    poll(&strict, &device_code)
        .await
        .assert_error(400, "authorization_pending");

    // Re-authentication max age: an app asking for a sign-in in the last minute.
    let recent = tv_app(&app, &org, |r| {
        let mut rules = SessionProfile::Standard.preset();
        rules.reauth_max_age_secs = Some(60);
        r.rules = Some(rules);
    })
    .await;
    let (recent_device, recent_user) = codes(&app, &recent).await;
    later(&app, 120);
    let page = enter(&mut b, "acme", &recent_user).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let body = html_unescape(&page.body);
    assert!(body.contains("needs a recent sign-in"), "{body}");
    assert!(body.contains("/o/acme/login?reauth=1&return_to="), "{body}");
    // Signed in again: the same code goes through.
    let mut fresh = signed_in(&app, "acme").await;
    let confirm = enter(&mut fresh, "acme", &recent_user).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let done = answer(&mut fresh, "acme", &confirm, "approve").await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    let tokens = poll(&recent, &recent_device).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
});

both_backends!(wrong_user_codes_are_throttled, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = tv_app(&app, &org, |_| {}).await;
    let (_, user_code) = codes(&app, &rp).await;
    let mut b = signed_in(&app, "acme").await;
    for _ in 0..10 {
        let page = enter(&mut b, "acme", "BCDF-GHJK").await;
        assert!(page.body.contains(NOT_RECOGNISED), "{}", page.body);
    }
    // Past the allowance even the right code is not looked up.
    let refused = enter(&mut b, "acme", &user_code).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(!refused.body.contains("Living Room TV"), "{}", refused.body);
    // The next window allows tries again (with a new code: the first one has expired).
    later(&app, 600);
    let (_, user_code) = codes(&app, &rp).await;
    let confirm = enter(&mut b, "acme", &user_code).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("Living Room TV"), "{}", confirm.body);
});

both_backends!(discovery_lists_the_device_endpoint_and_grant, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    org_with_alice(&app, "acme").await;
    let d: Value = app
        .get("/o/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["device_authorization_endpoint"],
        format!("{}/device_authorization", app.issuer("acme")).as_str()
    );
    let grants = d["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&Value::from(GRANT)), "{grants:?}");
    // The endpoint it names answers (a form without a client is invalid_client, not 404).
    let res = app
        .client
        .post(format!("{}/o/acme/device_authorization", app.address))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    Answer::read(res).await.assert_error(401, "invalid_client");
});

/// An admin API request with a JSON body.
async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> Answer {
    let res = app
        .client
        .request(method, format!("{}/api/v1/orgs/acme{path}", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::read(res).await
}

both_backends!(admins_and_the_cli_enable_the_device_grant, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let mut req = CreateApp::new("Automation", AppType::Service);
    req.admin = true;
    let automation = Rp::register(&app, &org, req).await;
    let token = automation
        .token(&[("grant_type", "client_credentials")])
        .await
        .str("access_token");

    // Registered through the admin API with the grant's wire name, no redirect URI.
    let created = admin(
        &app,
        reqwest::Method::POST,
        "/apps",
        &token,
        serde_json::json!({ "name": "Set-top box", "app_type": "native",
            "grant_types": [GRANT, "refresh_token"] }),
    )
    .await;
    assert!(created.status < 300, "{created:?}");
    let view = &created.json["app"];
    assert_eq!(
        view["grant_types"],
        serde_json::json!([GRANT, "refresh_token"])
    );
    let client_id = view["client_id"].as_str().unwrap().to_owned();
    let box_rp = automation.with_credentials(&client_id, None);
    let started = start(&app, &box_rp, "openid").await;
    assert_eq!(started.status, 200, "{started:?}");

    // An unknown grant names the field; taking the grant away refuses the app at once.
    let id = view["id"].as_str().unwrap();
    let bad = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/apps/{id}"),
        &token,
        serde_json::json!({ "grant_types": ["password"] }),
    )
    .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(format!("{:?}", bad.json).contains("grant_types"), "{bad:?}");
    let changed = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/apps/{id}"),
        &token,
        serde_json::json!({ "grant_types": ["refresh_token"] }),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    start(&app, &box_rp, "openid")
        .await
        .assert_error(400, "unauthorized_client");
    // A service app cannot have it.
    let svc_id = app
        .state
        .store
        .apps(org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.client_id == automation.client_id)
        .unwrap()
        .id;
    let refused = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/apps/{svc_id}"),
        &token,
        serde_json::json!({ "grant_types": ["client_credentials", GRANT] }),
    )
    .await;
    assert_eq!(refused.status, 422, "{refused:?}");

    // The CLI: `--grant device_code`.
    let out = app
        .cli()
        .run(&[
            "app",
            "create",
            "--org",
            "acme",
            "--name",
            "Terminal",
            "--type",
            "native",
            "--grant",
            "device_code",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let cli_id: Value = serde_json::from_str(&out.stdout).unwrap();
    let cli_rp = automation.with_credentials(cli_id["client_id"].as_str().unwrap(), None);
    let started = start(&app, &cli_rp, "openid").await;
    assert_eq!(started.status, 200, "{started:?}");
    let out = app
        .cli()
        .run(&[
            "app", "create", "--org", "acme", "--name", "X", "--grant", "password",
        ])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("unknown grant"), "{}", out.stderr);
});
