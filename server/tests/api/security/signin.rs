//! Issue 14, sign-in edges: every way of signing in ends the browser's previous session (with
//! its apps told), the first signing key of an org is made once under parallel callers, reset
//! and verification mail is limited per IP and per org, and a locked account writes one audit
//! row per lock.

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, idp_session, org_with_alice};
use crate::webauthn::{Key, enrol, finish, start};
use portcullis::accounts::{CreateUser, Role};
use portcullis::apps::{AppType, CreateApp};
use portcullis::sessions::{EndReason, Session};
use portcullis::tenancy::Org;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const BOB: &str = "bob@acme.test";
const BOB_PASSWORD: &str = "bob's long password";

/// Org `acme` with Alice, Bob and a catalog app with a back-channel logout URI; Bob is signed in
/// on a browser and into the catalog. Returns the org, that browser and Bob's IdP session.
async fn bob_in_the_catalog(app: &TestApp) -> (Org, Browser, Session) {
    let org = org_with_alice(app, "acme").await;
    let bob = CreateUser {
        email: BOB,
        password: Some(BOB_PASSWORD),
        name: Some("Bob"),
        role: Role::Member,
    };
    app.state
        .accounts
        .create_user(&org, bob, "test")
        .await
        .unwrap();
    let mut req = CreateApp::new("Catalog", AppType::Web);
    req.redirect_uris = vec!["http://127.0.0.1:9/catalog/callback".into()];
    req.backchannel_logout_uri = Some("http://127.0.0.1:9/catalog/backchannel".into());
    let catalog = Rp::register(app, &org, req).await;
    let mut b = Browser::new(&app.address, UA);
    assert_eq!(
        b.sign_in("acme", BOB, BOB_PASSWORD, false).await.status,
        303
    );
    // Already signed in: the authorization issues a code for Bob's session.
    catalog.sign_in(&mut b, &[]).await;
    let session = idp_session(app, &org, &b).await;
    (org, b, session)
}

/// Bob's session ended as a sign-out and the catalog is told.
async fn assert_ended_and_told(app: &TestApp, org: &Org, previous: &Session) {
    let row = app
        .state
        .store
        .session_by_id(org.id, previous.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.ended_at.is_some(),
        "the browser's previous session is still live"
    );
    assert_eq!(row.end_reason, Some(EndReason::Logout));
    let deliveries = app.state.store.logout_deliveries(org.id).await.unwrap();
    assert!(
        deliveries.iter().any(|d| d.session_id == previous.id),
        "the catalog is not told: {deliveries:?}"
    );
}

both_backends!(passkey_sign_in_ends_the_previous_session, |backend| {
    let app = TestApp::spawn(&backend).await;
    let (org, mut b, bobs) = bob_in_the_catalog(&app).await;
    let mut key = Key::new();
    enrol(&app, &mut key, "passkey").await;

    let (flow, options) = start(&mut b, "passkey-login", "passkey").await;
    let ok = finish(
        &mut b,
        "acme",
        "passkey-login",
        &flow,
        &key.assert(&options),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let alices = idp_session(&app, &org, &b).await;
    assert_ne!(alices.id, bobs.id);
    assert_ended_and_told(&app, &org, &bobs).await;
});

both_backends!(second_factor_sign_in_ends_the_previous_session, |backend| {
    let app = TestApp::spawn(&backend).await;
    let (org, mut b, bobs) = bob_in_the_catalog(&app).await;
    let mut key = Key::new();
    enrol(&app, &mut key, "security_key").await;

    // The sign-in page of an app asking for a fresh sign-in (`reauth`), then Alice's password.
    let csrf = b.get("/o/acme/login?reauth=1").await.csrf();
    let step1 = b
        .post(
            "/o/acme/login",
            &[
                ("email", crate::signin::EMAIL),
                ("password", crate::signin::PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        step1.location().starts_with("/o/acme/login/key"),
        "{}",
        step1.body
    );
    let (flow, options) = start(&mut b, "second-factor", "security_key").await;
    let ok = finish(
        &mut b,
        "acme",
        "second-factor",
        &flow,
        &key.assert(&options),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_ended_and_told(&app, &org, &bobs).await;
});

both_backends!(parallel_first_use_makes_one_signing_key, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let calls = (0..30).map(|_| {
        let (client, url) = (app.client.clone(), format!("{}/o/acme/jwks", app.address));
        tokio::spawn(async move {
            let res = client.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let jwks: serde_json::Value = res.json().await.unwrap();
            let kids: Vec<String> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            kids
        })
    });
    let answers: Vec<Vec<String>> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let now = portcullis::clock::Clock::now(app.clock.as_ref());
    let stored = app.state.store.signing_keys(org.id, now).await.unwrap();
    assert_eq!(stored.len(), 1, "first use made {} keys", stored.len());
    for kids in answers {
        assert_eq!(kids, vec![stored[0].kid.clone()]);
    }
});

/// Link requests per client IP and hour, and link mail per org and hour, in these tests.
const PER_IP: i64 = 3;
const PER_ORG: i64 = 4;

/// A node behind a trusted proxy (so `X-Forwarded-For` names the client) with small link-mail
/// limits, and org `acme` with users `user{i}@acme.test` (verified: created by an admin).
async fn acme_with_users(
    backend: &crate::helpers::Backend,
    users: usize,
    per_org: i64,
) -> (TestApp, Org) {
    let app = TestApp::spawn_with(backend, |f| {
        f.merge(("http.trusted_proxies", vec!["127.0.0.1"]))
            .merge(("email.link_requests_per_ip_per_hour", PER_IP))
            .merge(("email.link_mail_per_org_per_hour", per_org))
    })
    .await;
    let org = org_with_alice(&app, "acme").await;
    for i in 0..users {
        let email = format!("user{i}@acme.test");
        let req = CreateUser {
            email: &email,
            password: Some("a long enough password"),
            name: None,
            role: Role::Member,
        };
        app.state
            .accounts
            .create_user(&org, req, "test")
            .await
            .unwrap();
    }
    (app, org)
}

/// Posts `/password/forgot` for `email` from `ip`; the status and the page without its CSRF
/// token (which differs per browser).
async fn forgot(app: &TestApp, email: &str, ip: &str) -> (u16, String) {
    let mut b = Browser::new(&app.address, UA);
    let csrf = b.get("/o/acme/password/forgot").await.csrf();
    let res = app
        .client
        .post(format!("{}/o/acme/password/forgot", app.address))
        .header("cookie", format!("pc_csrf={csrf}"))
        .header("x-forwarded-for", ip)
        .form(&[("email", email), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap().replace(&csrf, ""))
}

async fn queued(app: &TestApp, org: &Org) -> i64 {
    app.state.store.emails(org.id).await.unwrap().len() as i64
}

both_backends!(reset_mail_is_limited_per_client_ip, |backend| {
    let (app, org) = acme_with_users(&backend, 6, PER_ORG).await;
    let first = forgot(&app, "user0@acme.test", "203.0.113.5").await;
    assert_eq!(first.0, 200);
    for i in 1..6 {
        let answer = forgot(&app, &format!("user{i}@acme.test"), "203.0.113.5").await;
        // Past the limit the page is the same: it tells nothing about accounts.
        assert_eq!(answer, first);
    }
    assert_eq!(
        queued(&app, &org).await,
        PER_IP,
        "one address mails every user"
    );
    // Another address still gets its mail; the limited one again after the hour.
    forgot(&app, "user5@acme.test", "198.51.100.7").await;
    assert_eq!(queued(&app, &org).await, PER_IP + 1);
    app.clock.advance(chrono::Duration::hours(1));
    forgot(&app, "user4@acme.test", "203.0.113.5").await;
    assert_eq!(queued(&app, &org).await, PER_IP + 2);
});

both_backends!(reset_mail_is_limited_per_org, |backend| {
    let (app, org) = acme_with_users(&backend, 6, PER_ORG).await;
    let mut pages = Vec::new();
    for i in 0..6 {
        // Each from its own address: only the org's limit applies.
        let ip = format!("203.0.113.{}", 10 + i);
        pages.push(forgot(&app, &format!("user{i}@acme.test"), &ip).await);
    }
    assert!(pages.iter().all(|p| *p == pages[0]), "the same page");
    assert_eq!(
        queued(&app, &org).await,
        PER_ORG,
        "anyone mails every user of the org"
    );
    // Another org has its own budget.
    let globex = org_with_alice(&app, "globex").await;
    let mut g = Browser::new(&app.address, UA);
    let csrf = g.get("/o/globex/password/forgot").await.csrf();
    g.post(
        "/o/globex/password/forgot",
        &[("email", crate::signin::EMAIL), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(queued(&app, &globex).await, 1);
});

both_backends!(verification_mail_is_limited_per_client_ip, |backend| {
    let (app, org) = acme_with_users(&backend, 0, 100).await;
    let open = portcullis::tenancy::SignupPolicy {
        mode: portcullis::tenancy::SignupMode::Open,
        require_verified_email: false,
    };
    app.state.orgs.set_signup(&org, open, "test").await.unwrap();
    // Five sign-ups (unverified users, each mailed a first link).
    for i in 0..5 {
        let mut b = Browser::new(&app.address, UA);
        let csrf = b.get("/o/acme/signup").await.csrf();
        let email = format!("new{i}@acme.test");
        let done = b
            .post(
                "/o/acme/signup",
                &[
                    ("email", email.as_str()),
                    ("password", "a long enough password"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert!(done.status < 400, "{}", done.body);
    }
    let before = queued(&app, &org).await;
    let mut b = Browser::new(&app.address, UA);
    let csrf = b.get("/o/acme/login").await.csrf();
    for i in 0..5 {
        let res = app
            .client
            .post(format!("{}/o/acme/verify-email/resend", app.address))
            .header("cookie", format!("pc_csrf={csrf}"))
            .header("x-forwarded-for", "203.0.113.5")
            .form(&[
                ("email", format!("new{i}@acme.test")),
                ("csrf", csrf.clone()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let mails = app.state.store.emails(org.id).await.unwrap();
    assert_eq!(
        queued(&app, &org).await - before,
        PER_IP,
        "one address mails every unverified user: {:?}",
        mails.iter().map(|m| &m.email.to).collect::<Vec<_>>()
    );
});

both_backends!(a_locked_account_writes_one_audit_row_per_lock, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let mut b = Browser::new(&app.address, UA);
    let csrf = b.get("/o/acme/login").await.csrf();
    let mut refused = 0;
    // Wrong passwords for any email, one after another on a stopped clock: the free attempts,
    // the one that sets the lock, then refusals while it holds.
    for _ in 0..40 {
        let res = b
            .post(
                "/o/acme/login",
                &[
                    ("email", "nobody@acme.test"),
                    ("password", "wrong password"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        if res.status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 20, "only {refused} refused");
    let rows = app
        .state
        .store
        .audit_events(org.id, Some("signin.throttled"), None, None, None, 1000)
        .await
        .unwrap();
    assert!(
        !rows.is_empty() && rows.len() <= 2,
        "{} signin.throttled rows for one lock (and maybe the IP's)",
        rows.len()
    );
    // The dashboard's activity counts the failed sign-ins of the hour.
    let activity = |hours: i64, bearer: String| {
        let req = app
            .client
            .get(format!(
                "{}/api/v1/orgs/acme/activity?hours={hours}",
                app.address
            ))
            .bearer_auth(bearer);
        async move {
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            v.as_array().unwrap().clone()
        }
    };
    let bearer = crate::email::admin_token(&app, &org).await;
    let hours = activity(2, bearer.clone()).await;
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[1]["failures"], 40 - refused);
    assert_eq!(hours[0]["failures"], 0);
    assert_eq!(hours[1]["signins"], 0);
    assert_eq!(activity(1, bearer).await[0]["failures"], 40 - refused);
    // An hour later, Alice signs in: each hour keeps its own counts.
    app.clock.advance(chrono::Duration::hours(1));
    let mut alice = Browser::new(&app.address, UA);
    let signed_in = alice
        .sign_in("acme", crate::signin::EMAIL, crate::signin::PASSWORD, false)
        .await;
    assert_eq!(signed_in.status, 303);
    // (A fresh token: the first one has expired.)
    let bearer = crate::email::admin_token(&app, &org).await;
    let hours = activity(3, bearer).await;
    assert_eq!(hours[1]["failures"], 40 - refused);
    assert_eq!(hours[2]["failures"], 0);
    assert_eq!(hours[2]["signins"], 1);
});

both_backends!(
    the_migration_keeps_one_open_key_of_an_org_that_raced,
    |backend| {
        use portcullis_migrations::{Migrator, MigratorTrait};
        let app = TestApp::spawn(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let conn = sea_orm::Database::connect(&app.db_url).await.unwrap();
        // As before the index: three parallel first uses left three open keys. (Later
        // migrations are undone first, and redone below.)
        let all = Migrator::migrations();
        let index = all
            .iter()
            .position(|m| m.name() == "m20261204_000025_one_open_signing_key")
            .unwrap();
        let steps = u32::try_from(all.len() - index).unwrap();
        Migrator::down(&conn, Some(steps)).await.unwrap();
        let now = portcullis::clock::Clock::now(app.clock.as_ref());
        for i in 0..3 {
            let key = portcullis::keys::StoredKey {
                kid: format!("raced-{i}"),
                alg: portcullis::keys::SigningAlg::Es256,
                encrypted_private_key: "unused".into(),
                public_jwk: serde_json::json!({ "kid": format!("raced-{i}") }),
                created_at: now + chrono::Duration::milliseconds(i),
                activates_at: now,
                expires_at: None,
            };
            app.state
                .store
                .insert_signing_key(org.id, &key, None, "test", now)
                .await
                .unwrap();
        }
        Migrator::up(&conn, None).await.unwrap();
        let keys = app.state.store.signing_keys(org.id, now).await.unwrap();
        assert_eq!(keys.len(), 3, "the older ones stay published");
        let open: Vec<_> = keys.iter().filter(|k| k.expires_at.is_none()).collect();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].kid, "raced-2", "the newest stays open");
        conn.close().await.unwrap();
    }
);
