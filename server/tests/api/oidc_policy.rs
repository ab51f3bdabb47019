//! Per-app session rules (DESIGN §1) through the real endpoints, on one IdP session and a fixed
//! clock: a privileged app (re-authentication after 15 minutes, MFA, 10-minute idle timeout,
//! 8-hour lifetime, ends with the IdP session) next to a standard app (silent SSO, outlives the
//! IdP session); app-session lifetimes; and revocation ending one app session only.
//!
//! MFA uses webauthn-authenticator-rs's software key with this node's origin
//! (`http://localhost:{port}`), as `webauthn.rs` does for the fixed test origin.

use crate::browser::{Browser, Page};
use crate::helpers::{
    Rp, TestApp, Tokens, html_attr_after, idp_session, local_path, org_with_alice, pkce,
    query_params, submit_login,
};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp, SessionProfile, SessionRules};
use portcullis::clock::Clock;
use portcullis::sessions::{ACR_ONE_FACTOR, ACR_TWO_FACTORS, MfaPolicy, SessionPolicy};
use portcullis::tenancy::Org;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The privileged preset, spelled out.
const PRIVILEGED: SessionRules = SessionRules {
    reauth_max_age_secs: Some(900),
    mfa_required: true,
    idle_timeout_secs: Some(600),
    lifetime_secs: 8 * 3600,
    outlives_idp_session: false,
};

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A software security key answering for this node's origin.
struct Key {
    soft: SoftPasskey,
    origin: url::Url,
}

impl Key {
    fn new(app: &TestApp) -> Self {
        Self {
            soft: SoftPasskey::new(true),
            origin: url::Url::parse(&app.public_url()).unwrap(),
        }
    }

    fn register(&mut self, options: &Value) -> Value {
        let ccr = serde_json::from_value(options.clone()).unwrap();
        let reg = self.soft.do_registration(self.origin.clone(), ccr).unwrap();
        serde_json::to_value(&reg).unwrap()
    }

    fn assert(&mut self, options: &Value) -> Value {
        let rcr = serde_json::from_value(options.clone()).unwrap();
        let answer = self
            .soft
            .do_authentication(self.origin.clone(), rcr)
            .unwrap();
        serde_json::to_value(&answer).unwrap()
    }
}

fn body(p: &Page) -> Value {
    serde_json::from_str(&p.body).unwrap_or(Value::Null)
}

async fn ceremony_start(b: &mut Browser, mode: &str) -> (String, Value) {
    let res = b
        .post_json(
            &format!("/o/acme/webauthn/{mode}/start"),
            &json!({ "kind": "security_key" }),
        )
        .await;
    assert_eq!(res.status, 200, "{mode} start: {}", res.body);
    let v = body(&res);
    (
        v["flow_id"].as_str().unwrap().to_owned(),
        v["options"].clone(),
    )
}

async fn ceremony_finish(
    b: &mut Browser,
    mode: &str,
    flow: &str,
    credential: &Value,
    return_to: Option<&str>,
) -> Page {
    let mut req = json!({ "flow_id": flow, "credential": credential, "name": "My key" });
    if let Some(r) = return_to {
        req["return_to"] = json!(r);
    }
    b.post_json(&format!("/o/acme/webauthn/{mode}/finish"), &req)
        .await
}

/// Signs in with the password in a browser of its own and enrols a security key there.
async fn enrol_key(app: &TestApp) -> Key {
    let mut key = Key::new(app);
    let mut b = Browser::new(&app.address, UA);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let (flow, options) = ceremony_start(&mut b, "register").await;
    let reg = key.register(&options);
    let done = ceremony_finish(&mut b, "register", &flow, &reg, None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    key
}

/// Follows the node from `start` to the app, doing what each page asks: the password form,
/// or the key on a second-factor or step-up page. Returns the app's redirect and the local
/// paths the browser went through.
async fn drive(rp: &Rp, b: &mut Browser, key: &mut Key, start: &str) -> (String, Vec<String>) {
    let mut visited = vec![local_path(start)];
    let mut page = b.get(&visited[0]).await;
    for _ in 0..12 {
        let next = match page.status {
            303 => {
                let location = page.location().to_owned();
                if location.starts_with(&rp.redirect_uri) {
                    return (location, visited);
                }
                local_path(&location)
            }
            200 if page.body.contains("name=\"password\"") => {
                page = submit_login(b, "acme", &page).await;
                continue;
            }
            200 if page.body.contains("id=\"webauthn\"") => {
                let mode = html_attr_after(&page.body, "id=\"webauthn\"", "data-mode");
                let return_to = html_attr_after(&page.body, "id=\"webauthn\"", "data-return-to");
                let (flow, options) = ceremony_start(b, &mode).await;
                let answer = key.assert(&options);
                let done = ceremony_finish(b, &mode, &flow, &answer, Some(&return_to)).await;
                assert_eq!(done.status, 200, "{mode}: {}", done.body);
                body(&done)["redirect"].as_str().unwrap().to_owned()
            }
            _ => panic!("unexpected {}: {}", page.status, page.body),
        };
        visited.push(next.clone());
        page = b.get(&next).await;
    }
    panic!("no way to {}: {visited:?}", rp.redirect_uri);
}

/// Authorization (with PKCE) through `drive`, and the code exchange.
async fn sign_in_with_key(rp: &Rp, b: &mut Browser, key: &mut Key) -> (Tokens, Vec<String>) {
    let (challenge, verifier) = pkce();
    let start = rp.authorize_path(&[
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let (location, visited) = drive(rp, b, key, &start).await;
    let q = query_params(&location);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("st-1"),
        "{location}"
    );
    assert_eq!(q.get("iss"), Some(&rp.issuer), "{location}");
    let code = q.get("code").unwrap_or_else(|| panic!("{location}"));
    (
        Tokens::of(&rp.exchange(code, Some(&verifier)).await),
        visited,
    )
}

/// One user, one IdP session, two apps signed in to at the start of the fixed clock.
struct Setup {
    app: TestApp,
    org: Org,
    standard: Rp,
    privileged: Rp,
    b: Browser,
    key: Key,
    std_tokens: Tokens,
    priv_tokens: Tokens,
}

async fn setup(backend: &crate::helpers::Backend) -> Setup {
    let app = TestApp::spawn_oidc(backend).await;
    let org = org_with_alice(&app, "acme").await;
    // The org never asks for a second factor itself: only the privileged app's rules do.
    let policy = SessionPolicy {
        mfa: MfaPolicy::Off,
        ..SessionPolicy::default()
    };
    app.state
        .sessions
        .set_policy(org.id, policy, "test")
        .await
        .unwrap();
    let mut key = enrol_key(&app).await;

    let standard = Rp::web(&app, &org, "catalog").await;
    let mut req = CreateApp::new("Payments", AppType::Web);
    req.redirect_uris = vec!["http://127.0.0.1:9/payments/callback".into()];
    req.session_profile = SessionProfile::Privileged;
    req.rules = Some(PRIVILEGED);
    // Long enough to outlast the idle timeout, so introspection answers follow the session.
    req.access_token_ttl_secs = Some(3600);
    let privileged = Rp::register(&app, &org, req).await;

    // The standard app: the password alone, straight back with a code.
    let mut b = Browser::new(&app.address, UA);
    let (std_tokens, visited) = sign_in_with_key(&standard, &mut b, &mut key).await;
    assert!(
        !visited.iter().any(|p| p.starts_with("/o/acme/login/")),
        "no second factor for the standard app: {visited:?}"
    );
    assert_eq!(std_tokens.id_claims()["acr"], ACR_ONE_FACTOR);

    // The privileged app: the one-factor session must be stepped up first.
    let first = b.get(&privileged.authorize_path(&[])).await;
    assert_eq!(first.status, 303);
    assert!(
        local_path(first.location()).starts_with("/o/acme/login/step-up?"),
        "{}",
        first.location()
    );
    let (priv_tokens, visited) = sign_in_with_key(&privileged, &mut b, &mut key).await;
    assert!(
        visited
            .iter()
            .any(|p| p.starts_with("/o/acme/login/step-up?")),
        "{visited:?}"
    );
    Setup {
        app,
        org,
        standard,
        privileged,
        b,
        key,
        std_tokens,
        priv_tokens,
    }
}

both_backends!(
    a_privileged_app_demands_mfa_and_recent_authentication_a_standard_app_does_not,
    |backend| {
        let Setup {
            app,
            org,
            standard,
            privileged,
            mut b,
            mut key,
            std_tokens,
            priv_tokens,
        } = setup(&backend).await;
        let t0 = app.clock.now().timestamp();
        let sc = std_tokens.id_claims();
        let pc = priv_tokens.id_claims();
        assert_eq!(sc["sid"], pc["sid"], "one IdP session for both apps");
        assert_eq!(pc["acr"], ACR_TWO_FACTORS, "{pc}");
        let amr: Vec<&str> = pc["amr"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            amr.contains(&"pwd") && amr.contains(&"hwk") && amr.contains(&"mfa"),
            "{amr:?}"
        );
        assert_eq!(pc["auth_time"].as_i64(), Some(t0));
        assert_eq!(pc["session_expiry"].as_i64(), Some(t0 + 8 * 3600), "{pc}");
        assert_eq!(sc["session_expiry"].as_i64(), Some(t0 + 30 * 86400), "{sc}");
        let session = idp_session(&app, &org, &b).await;
        assert!(session.webauthn_at.is_some(), "stepped up in place");

        // Within 15 minutes of signing in, the privileged app signs in silently too.
        app.clock.advance(minutes(14));
        let page = b.get(&privileged.authorize_path(&[])).await;
        assert_eq!(page.status, 303);
        assert!(
            page.location().starts_with(&privileged.redirect_uri),
            "{}",
            page.location()
        );
        assert!(query_params(page.location()).contains_key("code"));

        // Minute 16: the privileged app wants a fresh sign-in; the standard app does not.
        app.clock.advance(minutes(2));
        let page = b.get(&privileged.authorize_path(&[])).await;
        assert_eq!(page.status, 303);
        let login = local_path(page.location());
        assert!(login.starts_with("/o/acme/login?"), "{login}");
        let q = query_params(&login);
        assert_eq!(q.get("reauth").map(String::as_str), Some("1"), "{login}");
        assert!(q["return_to"].starts_with("/o/acme/authorize?"), "{login}");
        let page = b.get(&standard.authorize_path(&[])).await;
        assert_eq!(page.status, 303);
        assert!(
            page.location().starts_with(&standard.redirect_uri),
            "silent SSO: {}",
            page.location()
        );
        let q = query_params(page.location());
        assert!(q.contains_key("code") && q["state"] == "st-1" && q["iss"] == standard.issuer);
        // prompt=none cannot satisfy the privileged app now.
        let page = b
            .get(&privileged.authorize_path(&[("prompt", "none")]))
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(
            query_params(page.location())
                .get("error")
                .map(String::as_str),
            Some("login_required"),
            "{}",
            page.location()
        );

        // Signing in again (the same session; the key again if the node asks for it) lets the
        // privileged app in, with a new auth_time.
        let (location, _) = drive(&privileged, &mut b, &mut key, &login).await;
        let q = query_params(&location);
        let t = Tokens::of(&privileged.exchange(&q["code"], None).await);
        let c = t.id_claims();
        assert_eq!(c["auth_time"].as_i64(), Some(t0 + 16 * 60), "{c}");
        assert_eq!(c["sid"], pc["sid"], "the same IdP session");
        assert_eq!(c["acr"], ACR_TWO_FACTORS, "{c}");
    }
);

both_backends!(
    a_privileged_app_session_idles_out_a_standard_one_does_not,
    |backend| {
        let Setup {
            app,
            standard,
            privileged,
            std_tokens,
            priv_tokens,
            mut b,
            mut key,
            ..
        } = setup(&backend).await;

        // Each refresh within 10 minutes of the last keeps the privileged app session going.
        app.clock.advance(minutes(9));
        let p2 = Tokens::of(&privileged.refresh(&priv_tokens.refresh).await);
        app.clock.advance(minutes(9));
        let p3 = Tokens::of(&privileged.refresh(&p2.refresh).await);
        // 11 idle minutes: over.
        app.clock.advance(minutes(11));
        privileged
            .refresh(&p3.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(
            !privileged.active(&p3.access).await,
            "the app session ended"
        );
        // The standard app, idle for all 29 minutes, goes on.
        let s2 = Tokens::of(&standard.refresh(&std_tokens.refresh).await);
        assert!(standard.active(&s2.access).await);

        // Introspection counts as activity too: a new privileged session, introspected at
        // minute 8 and refreshed at minute 16, is alive; 11 quiet minutes later it is not.
        let (q1, _) = sign_in_with_key(&privileged, &mut b, &mut key).await;
        app.clock.advance(minutes(8));
        assert!(privileged.active(&q1.access).await);
        app.clock.advance(minutes(8));
        let q2 = Tokens::of(&privileged.refresh(&q1.refresh).await);
        app.clock.advance(minutes(11));
        assert!(!privileged.active(&q2.access).await);
        privileged
            .refresh(&q2.refresh)
            .await
            .assert_error(400, "invalid_grant");
    }
);

both_backends!(
    an_app_session_ends_at_its_lifetime_however_active,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Shop", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/shop/callback".into()];
        req.rules = Some(SessionRules {
            reauth_max_age_secs: None,
            mfa_required: false,
            idle_timeout_secs: Some(1800),
            lifetime_secs: 3600,
            outlives_idp_session: true,
        });
        let rp = Rp::register(&app, &org, req).await;
        let mut b = Browser::new(&app.address, UA);
        let t0 = app.clock.now().timestamp();
        let t1 = rp.sign_in(&mut b, &[]).await;
        assert_eq!(t1.id_claims()["session_expiry"].as_i64(), Some(t0 + 3600));
        app.clock.advance(minutes(25));
        let t2 = Tokens::of(&rp.refresh(&t1.refresh).await);
        if t2.id.is_some() {
            assert_eq!(t2.id_claims()["session_expiry"].as_i64(), Some(t0 + 3600));
        }
        app.clock.advance(minutes(25));
        let t3 = Tokens::of(&rp.refresh(&t2.refresh).await);
        // Minute 61: active 11 minutes ago, but past the lifetime.
        app.clock.advance(minutes(11));
        rp.refresh(&t3.refresh)
            .await
            .assert_error(400, "invalid_grant");
    }
);

both_backends!(
    ending_the_idp_session_ends_only_app_sessions_that_may_not_outlive_it,
    |backend| {
        let Setup {
            app,
            org,
            standard,
            privileged,
            mut b,
            std_tokens,
            priv_tokens,
            ..
        } = setup(&backend).await;
        let session = idp_session(&app, &org, &b).await;
        app.clock.advance(minutes(1));

        // The user signs out of the org with the sign-out form.
        let form = b.get("/o/acme/logout").await;
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        let out = b.post("/o/acme/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 200, "{}", out.body);
        let ended = app
            .state
            .store
            .session_by_id(org.id, session.id)
            .await
            .unwrap()
            .unwrap();
        assert!(ended.ended_at.is_some());

        // The privileged app session ended with it.
        privileged
            .refresh(&priv_tokens.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!privileged.active(&priv_tokens.access).await);
        assert_eq!(privileged.userinfo(&priv_tokens.access).await.status, 401);
        // The standard app session outlives it.
        let s2 = Tokens::of(&standard.refresh(&std_tokens.refresh).await);
        assert!(standard.active(&s2.access).await);
        assert_eq!(standard.userinfo(&s2.access).await.status, 200);
        Tokens::of(&standard.refresh(&s2.refresh).await);
        // But no new sign-in happens without the user.
        let page = b.get(&standard.authorize_path(&[("prompt", "none")])).await;
        assert_eq!(
            query_params(page.location())
                .get("error")
                .map(String::as_str),
            Some("login_required"),
            "{}",
            page.location()
        );
    }
);

both_backends!(
    ending_the_idp_session_in_process_has_the_same_effect,
    |backend| {
        let Setup {
            app,
            org,
            standard,
            privileged,
            b,
            std_tokens,
            priv_tokens,
            ..
        } = setup(&backend).await;
        let session = idp_session(&app, &org, &b).await;
        app.state
            .sessions
            .end(
                org.id,
                session.id,
                portcullis::sessions::EndReason::Logout,
                "test",
            )
            .await
            .unwrap();
        privileged
            .refresh(&priv_tokens.refresh)
            .await
            .assert_error(400, "invalid_grant");
        Tokens::of(&standard.refresh(&std_tokens.refresh).await);
    }
);

both_backends!(
    revoking_a_refresh_token_ends_only_that_app_session,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let catalog = Rp::web(&app, &org, "catalog").await;
        let loyalty = Rp::web(&app, &org, "loyalty").await;
        let mut b = Browser::new(&app.address, UA);
        let c1 = catalog.sign_in(&mut b, &[]).await;
        let l1 = loyalty.sign_in(&mut b, &[]).await;

        // Bad client authentication is refused and revokes nothing.
        let wrong = catalog.with_credentials(&catalog.client_id, Some("not-the-secret"));
        let r = wrong.revoke(&c1.refresh, Some("refresh_token")).await;
        assert_eq!(r.status, 401, "{r:?}");
        // Another app cannot revoke this app's token (RFC 7009 §2.1).
        let r = loyalty.revoke(&c1.refresh, Some("refresh_token")).await;
        assert!(r.status < 500, "{r:?}");
        let c2 = Tokens::of(&catalog.refresh(&c1.refresh).await);

        // Local logout of the catalog app.
        let r = catalog.revoke(&c2.refresh, Some("refresh_token")).await;
        assert_eq!(r.status, 200, "{r:?}");
        catalog
            .refresh(&c2.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!catalog.active(&c2.access).await, "its access token too");
        assert_eq!(catalog.userinfo(&c2.access).await.status, 401);
        // Revoking again, or a token that never existed: still 200 (RFC 7009 §2.2).
        assert_eq!(
            catalog
                .revoke(&c2.refresh, Some("refresh_token"))
                .await
                .status,
            200
        );
        assert_eq!(catalog.revoke("no-such-token", None).await.status, 200);

        // The other app and the IdP session are untouched.
        assert!(loyalty.active(&l1.access).await);
        let l2 = Tokens::of(&loyalty.refresh(&l1.refresh).await);
        assert!(loyalty.active(&l2.access).await);
        let page = b.get(&catalog.authorize_path(&[("prompt", "none")])).await;
        assert_eq!(page.status, 303);
        assert!(
            query_params(page.location()).contains_key("code"),
            "SSO signs the user straight back in: {}",
            page.location()
        );
        let again = catalog.sign_in(&mut b, &[]).await;
        assert!(catalog.active(&again.access).await);
    }
);
