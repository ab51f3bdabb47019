//! The admin REST API from the outside: every route refuses a missing token (401), a token that
//! is not an org admin's (403), and org A's admin at org B (403 by path, 404 by object id) with
//! org B unchanged; a service app with the admin role works with client credentials; the revoke
//! preview lists exactly what the revoke then ends; and the OpenAPI document is served.

use crate::browser::Browser;
use crate::helpers::{Answer, Rp, TestApp};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::accounts::{CreateUser, Role};
use portcullis::admin_api::routes::ROUTES;
use portcullis::apps::{AppType, CreateApp};
use portcullis::tenancy::Org;
use serde_json::{Value, json};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const PUBLIC: [&str; 3] = ["/deployment", "/openapi.json", "/console-client"];

pub(crate) async fn org_with(app: &TestApp, slug: &str, role: Role) -> Org {
    let org = app.state.orgs.create(slug, None, "test").await.unwrap();
    let req = CreateUser {
        email: EMAIL,
        password: Some(PASSWORD),
        name: Some("Alice"),
        role,
    };
    app.state
        .accounts
        .create_user(&org, req, "test")
        .await
        .unwrap();
    org
}

/// An app of `org` (with or without the admin role) and alice's access token from it.
pub(crate) async fn user_token(app: &TestApp, org: &Org, admin: bool) -> String {
    let mut req = CreateApp::new(if admin { "Console" } else { "Shop" }, AppType::Web);
    req.redirect_uris = vec![format!(
        "http://127.0.0.1:9/{}/{admin}/cb",
        org.slug.as_str()
    )];
    req.admin = admin;
    let rp = Rp::register(app, org, req).await;
    let mut b = Browser::new(&app.address, UA);
    rp.sign_in(&mut b, &[]).await.access
}

pub(crate) async fn service_token(app: &TestApp, org: &Org) -> String {
    let mut req = CreateApp::new("Automation", AppType::Service);
    req.admin = true;
    let rp = Rp::register(app, org, req).await;
    let answer = rp.token(&[("grant_type", "client_credentials")]).await;
    answer.str("access_token")
}

pub(crate) async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> Answer {
    let url = format!("{}/api/v1{path}", app.address);
    let mut req = match method {
        "get" => app.client.get(url),
        "post" => app.client.post(url),
        "delete" => app.client.delete(url),
        "patch" => app.client.patch(url),
        "put" => app.client.put(url),
        other => panic!("method {other}"),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if ["post", "patch", "put"].contains(&method) {
        req = req
            .header("content-type", "application/json")
            .body(json!({ "name": "x", "redirect_uris": ["https://x.example/cb"] }).to_string());
    }
    Answer::read(req.send().await.unwrap()).await
}

fn concrete(path: &str, org: &str, id: &str) -> String {
    path.replace("{org}", org).replace("{id}", id)
}

/// Everything of org B the admin API could change: apps (with their settings and secrets),
/// users (with role and status), live sessions, signing keys, session policy, deliveries, and
/// the audit trail (every change writes one).
async fn org_b_state(app: &TestApp, org: &Org) -> Value {
    let s = &app.state.store;
    let apps: Vec<Value> = s
        .apps(org.id)
        .await
        .unwrap()
        .iter()
        .map(|a| {
            json!([
                a.client_id,
                a.name,
                format!("{:?}", a.settings),
                a.redirect_uris.len()
            ])
        })
        .collect();
    let users: Vec<Value> = s
        .users(org.id, None)
        .await
        .unwrap()
        .iter()
        .map(|u| json!([u.email.as_str(), u.role.as_str(), u.active, u.name]))
        .collect();
    json!({
        "apps": apps,
        "users": users,
        "sessions": s.live_sessions(org.id, None).await.unwrap().len(),
        "keys": s.signing_keys(org.id, app.clock.now()).await.unwrap().len(),
        "policy": format!("{:?}", app.state.sessions.policy(org.id).await.unwrap()),
        "deliveries": s.logout_deliveries(org.id).await.unwrap().len(),
        "audit": s.count_audit_events(org.id).await.unwrap(),
    })
}

use portcullis::clock::Clock;

both_backends!(
    every_route_checks_the_token_the_role_and_the_org,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let members = org_with(&app, "members", Role::Member).await;
        let globex = org_with(&app, "globex", Role::Admin).await;
        let admin = user_token(&app, &acme, true).await;
        let not_admin_app = user_token(&app, &acme, false).await;
        let member = user_token(&app, &members, true).await;
        let globex_admin = user_token(&app, &globex, true).await;
        let globex_app = app.state.store.apps(globex.id).await.unwrap()[0]
            .id
            .to_string();
        let before = org_b_state(&app, &globex).await;
        let random = uuid::Uuid::new_v4().to_string();

        for (method, path) in ROUTES.iter().filter(|(_, p)| !PUBLIC.contains(p)) {
            let own = concrete(path, "acme", &random);
            let res = call(&app, method, &own, None).await;
            assert_eq!(res.status, 401, "{method} {own} without a token: {res:?}");
            assert!(
                res.header("www-authenticate").starts_with("Bearer"),
                "{res:?}"
            );
            assert_eq!(res.header("content-type"), "application/problem+json");
            let res = call(&app, method, &own, Some("not.a.token")).await;
            assert_eq!(res.status, 401, "{method} {own} with garbage: {res:?}");
            let res = call(&app, method, &own, Some(&not_admin_app)).await;
            assert_eq!(
                res.status, 403,
                "{method} {own} from an app without the admin role: {res:?}"
            );
            let theirs = concrete(path, "members", &random);
            let res = call(&app, method, &theirs, Some(&member)).await;
            assert_eq!(res.status, 403, "{method} {theirs} as a member: {res:?}");
            // Org A's admin at org B: by path...
            let other = concrete(path, "globex", &globex_app);
            let res = call(&app, method, &other, Some(&admin)).await;
            assert_eq!(res.status, 403, "{method} {other} as acme's admin: {res:?}");
            // ...and by object id, through their own org's path.
            if path.contains("{id}") {
                let by_id = concrete(path, "acme", &globex_app);
                let res = call(&app, method, &by_id, Some(&admin)).await;
                assert_eq!(
                    res.status, 404,
                    "{method} {by_id} with globex's id: {res:?}"
                );
            }
            assert_eq!(
                org_b_state(&app, &globex).await,
                before,
                "after {method} {path}"
            );
        }
        // The same token works at home, and globex's admin at globex.
        let res = call(&app, "get", "/orgs/acme/apps", Some(&admin)).await;
        assert_eq!(res.status, 200, "{res:?}");
        assert_eq!(res.json["total"], 2);
        let res = call(
            &app,
            "get",
            &format!("/orgs/globex/apps/{globex_app}"),
            Some(&globex_admin),
        )
        .await;
        assert_eq!(res.status, 200, "{res:?}");
        assert!(
            res.json.get("client_secret").is_none(),
            "secrets are never listed"
        );
    }
);

both_backends!(service_apps_with_the_admin_role_manage_apps, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let token = service_token(&app, &acme).await;
    let url = format!("{}/api/v1/orgs/acme/apps", app.address);

    // Validation problems name the field.
    let bad = Answer::read(
        app.client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "name": "pay", "redirect_uris": ["http://pay.example.com/cb"] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert_eq!(bad.json["errors"][0]["field"], "redirect_uris", "{bad:?}");

    let created = Answer::read(
        app.client
            .post(&url)
            .bearer_auth(&token)
            .json(
                &json!({ "name": "Payments", "redirect_uris": ["https://pay.example.com/cb"],
                "session_profile": "privileged" }),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["app"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["app"]["session_rules"]["mfa_required"], true);
    let first_secret = created.str("client_secret");

    let rotated = Answer::read(
        app.client
            .post(format!("{url}/{id}/secret"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let client_id = created.json["app"]["client_id"].as_str().unwrap();
    assert!(
        !app.state
            .apps
            .verify_secret(&acme, client_id, &first_secret)
            .await
            .unwrap()
    );
    assert!(
        app.state
            .apps
            .verify_secret(&acme, client_id, &rotated.str("client_secret"))
            .await
            .unwrap()
    );

    // Pagination.
    let page: Value = app
        .client
        .get(format!("{url}?page=2&per_page=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            page["page"].as_u64(),
            page["per_page"].as_u64(),
            page["total"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let res = app
        .client
        .get(format!("{url}?per_page=500"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // Edit: new URIs and a back-channel URI; switching to standard applies its preset.
    let patch = |body: Value| {
        app.client
            .patch(format!("{url}/{id}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let patched = Answer::read(
        patch(json!({ "redirect_uris": ["https://pay.example.com/cb2"],
            "backchannel_logout_uri": "https://pay.example.com/logout",
            "session_profile": "standard", "access_token_ttl_secs": 120 }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(
        patched.json["redirect_uris"],
        json!(["https://pay.example.com/cb2"])
    );
    assert_eq!(
        patched.json["backchannel_logout_uri"],
        "https://pay.example.com/logout"
    );
    assert_eq!(patched.json["session_rules"]["mfa_required"], false);
    assert_eq!(patched.json["session_rules"]["outlives_idp_session"], true);
    assert_eq!(patched.json["access_token_ttl_secs"], 120);
    assert_eq!(patched.json["client_id"], created.json["app"]["client_id"]);
    let stored = app
        .state
        .store
        .app_by_client_id(acme.id, client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.redirect_uri_registered("https://pay.example.com/cb2"));
    assert!(!stored.redirect_uri_registered("https://pay.example.com/cb"));
    let cleared = Answer::read(
        patch(json!({ "backchannel_logout_uri": "" }))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        cleared.json["backchannel_logout_uri"].is_null(),
        "{cleared:?}"
    );
    let invalid = Answer::read(
        patch(json!({ "redirect_uris": ["http://pay.example.com/cb"] }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (invalid.status, invalid.json["errors"][0]["field"].as_str()),
        (422, Some("redirect_uris"))
    );

    let deleted = app
        .client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .client
        .get(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/orgs/{org}/sessions/{id}/revoke"]["post"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
});

both_backends!(
    revoke_preview_lists_exactly_what_the_revoke_ends,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let token = service_token(&app, &acme).await;
        let mut req = CreateApp::new("Catalog", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/catalog/cb".into()];
        req.backchannel_logout_uri = Some("http://127.0.0.1:9/catalog/bc".into());
        let catalog = Rp::register(&app, &acme, req).await;
        let mut req = CreateApp::new("Reports", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/reports/cb".into()];
        let reports = Rp::register(&app, &acme, req).await;
        let mut laptop = Browser::new(&app.address, UA);
        catalog.sign_in(&mut laptop, &[]).await;
        reports.sign_in(&mut laptop, &[]).await;
        let mut phone = Browser::new(&app.address, UA);
        catalog.sign_in(&mut phone, &[]).await;

        let sessions: Value = app
            .client
            .get(format!("{}/api/v1/orgs/acme/sessions", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sessions["total"], 2, "{sessions}");
        let laptop_session = sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["app_sessions"].as_array().unwrap().len() == 2)
            .unwrap()
            .clone();
        let sid = laptop_session["id"].as_str().unwrap();
        let revoke = format!("{}/api/v1/orgs/acme/sessions/{sid}/revoke", app.address);
        let preview: Value = app
            .client
            .post(format!("{revoke}?dry_run=true"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(preview["dry_run"], true);
        assert_eq!(preview["sessions"], json!([sid]));
        assert_eq!(preview["app_sessions"].as_array().unwrap().len(), 2);
        assert_eq!(preview["apps_notified"], json!([catalog.client_id]));
        // The dry run changed nothing.
        assert!(
            app.state
                .store
                .logout_deliveries(acme.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            app.state
                .store
                .live_sessions(acme.id, None)
                .await
                .unwrap()
                .len(),
            2
        );

        let done: Value = app
            .client
            .post(&revoke)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(done["dry_run"], false);
        assert_eq!(done["sessions"], preview["sessions"]);
        assert_eq!(done["app_sessions"], preview["app_sessions"]);
        assert_eq!(done["apps_notified"], preview["apps_notified"]);
        // What ended is what the preview said: that session, its two app sessions, one delivery.
        let live: Vec<String> = app
            .state
            .store
            .live_sessions(acme.id, None)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert!(!live.contains(&sid.to_owned()));
        assert_eq!(live.len(), 1);
        let live_app_sessions = app
            .state
            .store
            .live_app_sessions(acme.id, None, None, None)
            .await
            .unwrap();
        for id in preview["app_sessions"].as_array().unwrap() {
            assert!(
                !live_app_sessions
                    .iter()
                    .any(|a| a.id.to_string() == *id.as_str().unwrap())
            );
        }
        assert_eq!(
            live_app_sessions.len(),
            1,
            "the phone's catalog session lives on"
        );
        let deliveries = app.state.store.logout_deliveries(acme.id).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].session_id.to_string(), sid);
        assert_eq!(deliveries[0].reason, "admin_revoked");
        // The delivery list shows it; retry makes it due again.
        let list: Value = app
            .client
            .get(format!(
                "{}/api/v1/orgs/acme/logout-deliveries?status=pending",
                app.address
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["total"], 1);
    }
);

both_backends!(users_policy_and_audit_through_the_api, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let token = service_token(&app, &acme).await;
    let base = format!("{}/api/v1/orgs/acme", app.address);
    let send = |req: reqwest::RequestBuilder| {
        let token = token.clone();
        async move { Answer::read(req.bearer_auth(token).send().await.unwrap()).await }
    };

    let bad = send(
        app.client
            .post(format!("{base}/users"))
            .json(&json!({ "email": "not-an-email" })),
    )
    .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert_eq!(bad.json["errors"][0]["field"], "email");
    let bob = send(app.client.post(format!("{base}/users")).json(&json!({
        "email": "Bob@Acme.test", "password": "bob's long password", "name": "Bob" })))
    .await;
    assert_eq!(bob.status, 201, "{bob:?}");
    assert_eq!(bob.json["email"], "bob@acme.test");
    assert_eq!(bob.json["role"], "member");
    let bob_id = bob.str("id");
    let again = send(
        app.client
            .post(format!("{base}/users"))
            .json(&json!({ "email": "bob@acme.test" })),
    )
    .await;
    assert_eq!(again.status, 409, "{again:?}");

    let found = send(app.client.get(format!("{base}/users?q=bob"))).await;
    assert_eq!(found.json["total"], 1, "{found:?}");
    let patched = send(
        app.client
            .patch(format!("{base}/users/{bob_id}"))
            .json(&json!({ "role": "admin", "name": "" })),
    )
    .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json["role"], "admin");
    assert!(patched.json["name"].is_null());

    // Bob signs in; resetting his MFA ends the session with reason mfa_reset.
    let mut b = Browser::new(&app.address, UA);
    assert_eq!(
        b.sign_in("acme", "bob@acme.test", "bob's long password", false)
            .await
            .status,
        303
    );
    let reset = send(app.client.post(format!("{base}/users/{bob_id}/reset-mfa"))).await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(b.get("/o/acme/account").await.status, 303, "signed out");
    let ended = app
        .state
        .store
        .user_sessions(
            acme.id,
            portcullis::accounts::UserId(bob_id.parse().unwrap()),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        ended[0].end_reason,
        Some(portcullis::sessions::EndReason::MfaReset)
    );

    let disabled = send(app.client.post(format!("{base}/users/{bob_id}/disable"))).await;
    assert_eq!(disabled.json["active"], false);
    assert_eq!(
        b.sign_in("acme", "bob@acme.test", "bob's long password", false)
            .await
            .status,
        401
    );
    let enabled = send(app.client.post(format!("{base}/users/{bob_id}/enable"))).await;
    assert_eq!(enabled.json["active"], true);
    let deleted = send(app.client.delete(format!("{base}/users/{bob_id}"))).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(
        send(app.client.get(format!("{base}/users/{bob_id}")))
            .await
            .status,
        404
    );

    // Session policy: read, change, refuse nonsense.
    let policy = send(app.client.get(format!("{base}/session-policy"))).await;
    assert_eq!(policy.json["idle_timeout_secs"], 7200, "{policy:?}");
    let mut changed = policy.json.clone();
    changed["idle_timeout_secs"] = json!(600);
    changed["mfa"] = json!("required");
    let put = send(
        app.client
            .put(format!("{base}/session-policy"))
            .json(&changed),
    )
    .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(
        app.state
            .sessions
            .policy(acme.id)
            .await
            .unwrap()
            .idle_timeout_secs,
        600
    );
    changed["mfa"] = json!("sometimes");
    let bad = send(
        app.client
            .put(format!("{base}/session-policy"))
            .json(&changed),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json["errors"][0]["field"].as_str()),
        (422, Some("mfa")),
        "{bad:?}"
    );

    // The audit log saw all of it.
    let audit = send(app.client.get(format!("{base}/audit-events?action=user."))).await;
    let actions: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.created",
        "user.updated",
        "user.mfa_reset",
        "user.disabled",
        "user.enabled",
        "user.deleted",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(actions.iter().all(|a| a.starts_with("user.")));
    let bad = send(
        app.client
            .get(format!("{base}/audit-events?since=yesterday")),
    )
    .await;
    assert_eq!(bad.status, 422);

    // The dashboard's hourly activity: bob's sign-in and his refused one (while disabled).
    let activity = send(app.client.get(format!("{base}/activity?hours=24"))).await;
    assert_eq!(activity.status, 200, "{activity:?}");
    let hours = activity.json.as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let sum = |k: &str| hours.iter().map(|h| h[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("signins"), sum("failures")), (1, 1), "{hours:?}");
    assert_eq!(hours[23]["signins"], 1, "the current hour is last");
    let bad = send(app.client.get(format!("{base}/activity?hours=0"))).await;
    assert_eq!(bad.status, 422);
});

both_backends!(
    the_console_app_is_made_on_first_use_and_signs_admins_in,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        assert!(app.state.store.apps(acme.id).await.unwrap().is_empty());
        let first: Value = app
            .get("/api/v1/console-client?org=acme")
            .await
            .json()
            .await
            .unwrap();
        let again: Value = app
            .get("/api/v1/console-client?org=acme")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(first["client_id"], "portcullis-console");
        assert_eq!(
            first["redirect_uri"],
            format!("{}/console/", app.public_url())
        );
        assert_eq!(first["issuer"], app.issuer("acme"));
        let apps = app.state.store.apps(acme.id).await.unwrap();
        assert_eq!(apps.len(), 1);
        assert!(apps[0].admin && apps[0].is_public());
        assert_eq!(
            app.get("/api/v1/console-client?org=nope").await.status(),
            404
        );

        // An admin signs in through it (PKCE, public client) and calls the API.
        let mut spa = CreateApp::new("unused", AppType::Spa);
        spa.redirect_uris = vec!["http://127.0.0.1:9/unused".into()];
        let mut rp = Rp::register(&app, &acme, spa)
            .await
            .with_credentials("portcullis-console", None);
        rp.redirect_uri = first["redirect_uri"].as_str().unwrap().to_owned();
        let mut b = Browser::new(&app.address, UA);
        let token = rp
            .sign_in(&mut b, &[("scope", "openid profile email")])
            .await
            .access;
        let res = call(&app, "get", "/orgs/acme/apps", Some(&token)).await;
        assert_eq!(res.status, 200, "{res:?}");
    }
);

both_backends!(operators_manage_orgs_and_nobody_else_does, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let system = app.state.orgs.find("system").await.unwrap();
    let operator = service_token(&app, &system).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let acme_admin = service_token(&app, &acme).await;
    let url = |p: &str| format!("{}/api/v1{p}", app.address);

    let created = Answer::read(
        app.client
            .post(url("/orgs"))
            .bearer_auth(&operator)
            .json(&json!({ "slug": "globex", "name": "Globex", "signing_alg": "RS256" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["issuer"], app.issuer("globex"));
    let jwks: Value = app.get("/o/globex/jwks").await.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let dup = Answer::read(
        app.client
            .post(url("/orgs"))
            .bearer_auth(&operator)
            .json(&json!({ "slug": "globex" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(dup.status, 409);
    let bad = Answer::read(
        app.client
            .post(url("/orgs"))
            .bearer_auth(&operator)
            .json(&json!({ "slug": "Not A Slug" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json["errors"][0]["field"].as_str()),
        (422, Some("slug"))
    );

    let list: Value = app
        .client
        .get(url("/orgs"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 3, "system, acme, globex: {list}");

    // An org admin is not an operator.
    for (method, path) in [
        ("get", "/orgs"),
        ("post", "/orgs"),
        ("post", "/orgs/globex/disable"),
        ("post", "/orgs/acme/disable"),
    ] {
        let res = call(&app, method, path, Some(&acme_admin)).await;
        assert_eq!(res.status, 403, "{method} {path}: {res:?}");
    }
    assert_eq!(app.get("/o/globex/").await.status(), 200);

    let disabled = call(&app, "post", "/orgs/globex/disable", Some(&operator)).await;
    assert_eq!(
        (disabled.status, disabled.json["status"].as_str()),
        (200, Some("disabled"))
    );
    assert_eq!(app.get("/o/globex/").await.status(), 403);
    let enabled = call(&app, "post", "/orgs/globex/enable", Some(&operator)).await;
    assert_eq!(enabled.json["status"], "active");
    assert_eq!(app.get("/o/globex/").await.status(), 200);
    assert_eq!(
        call(&app, "post", "/orgs/system/disable", Some(&operator))
            .await
            .status,
        409
    );
    assert_eq!(
        call(&app, "post", "/orgs/nope/enable", Some(&operator))
            .await
            .status,
        404
    );
});
