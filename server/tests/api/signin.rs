//! Password sign-in, the IdP session and its cookie, lifetimes under a fixed clock, fixation,
//! throttling, tenant isolation of cookies, and the account page.

use crate::browser::Browser;
use crate::helpers::{TestApp, TestDb, free_port};
use portcullis::accounts::{CreateUser, Role};
use portcullis::clock::Clock;
use portcullis::sessions::{EndReason, SessionId, SessionPolicy};
use portcullis::tenancy::Org;

pub const EMAIL: &str = "alice@acme.test";
pub const PASSWORD: &str = "correct horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

pub async fn acme(app: &TestApp) -> Org {
    let org = app
        .state
        .orgs
        .create("acme", Some("Acme"), "test")
        .await
        .unwrap();
    let req = CreateUser {
        email: EMAIL,
        password: Some(PASSWORD),
        name: Some("Alice"),
        role: Role::Member,
    };
    app.state
        .accounts
        .create_user(&org, req, "test")
        .await
        .unwrap();
    org
}

async fn session_id(app: &TestApp, org: &Org, b: &Browser) -> SessionId {
    let token = b.session("acme").expect("signed in");
    let hash = portcullis::secrets::sha256_hex(&token);
    app.state
        .store
        .session_by_token_hash(org.id, &hash)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn end_reason(app: &TestApp, org: &Org, id: SessionId) -> Option<EndReason> {
    app.state
        .store
        .session_by_id(org.id, id)
        .await
        .unwrap()
        .unwrap()
        .end_reason
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

both_backends!(
    sign_in_sets_a_safe_cookie_and_reveals_no_accounts,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut b = Browser::new(&app.address, FIREFOX);

        let login = b.get("/o/acme/login").await;
        assert_eq!(login.status, 200);
        for field in [
            "name=\"email\"",
            "name=\"password\"",
            "type=\"hidden\" name=\"csrf\"",
            "Keep me signed in",
        ] {
            assert!(login.body.contains(field), "{field}");
        }
        // A plain form post: script only adds the passkey button, never drives the password form.
        assert!(
            login
                .body
                .contains("<form method=\"post\" action=\"/o/acme/login\">")
        );
        assert!(
            !login.body.contains("<script>") && !login.body.contains("onsubmit"),
            "no inline script"
        );
        assert_eq!(login.headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(login.headers.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(login.headers.get("referrer-policy").unwrap(), "no-referrer");
        let csrf = login.csrf();

        // Unknown email and wrong password: the same status, headers and body.
        let wrong = b
            .post(
                "/o/acme/login",
                &[
                    ("email", EMAIL),
                    ("password", "wrong password!"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        let unknown = b
            .post(
                "/o/acme/login",
                &[
                    ("email", "nobody@acme.test"),
                    ("password", "wrong password!"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.status, unknown.status);
        assert_eq!(wrong.body, unknown.body);
        let names = |p: &crate::browser::Page| {
            let mut h: Vec<(String, String)> = p
                .headers
                .iter()
                .filter(|(k, _)| *k != "date")
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(names(&wrong), names(&unknown));
        assert!(wrong.body.contains("The email or password is incorrect."));

        let ok = b.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert_eq!(ok.location(), "/o/acme/account");
        let cookie = ok
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("pc_session="))
            .unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/o/acme"), "{cookie}");
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert!(
            !cookie.contains("Max-Age"),
            "a plain session ends with the browser: {cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain http on loopback: {cookie}"
        );
        let token = b.session("acme").unwrap();
        assert!(token.len() >= 43, "256-bit session id");
        // Only the hash is stored.
        let stored = app
            .state
            .store
            .session_by_token_hash(org.id, &portcullis::secrets::sha256_hex(&token))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(stored.token_hash, token);
        assert!(stored.password_at.is_some());
        assert_eq!(stored.user_agent.as_deref(), Some(FIREFOX));

        let account = b.get("/o/acme/account").await;
        assert_eq!(account.status, 200);
        assert!(account.body.contains(EMAIL));
        assert!(account.body.contains("Firefox on Linux"));
        assert!(account.body.contains("(this device)"));

        let audit: Vec<_> = app.state.store.recent_audit(org.id, 50).await.unwrap();
        let reasons: Vec<_> = audit
            .iter()
            .filter(|(a, _)| a == "signin.failed")
            .map(|(_, d)| d["reason"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            reasons.contains(&"unknown_user".to_owned())
                && reasons.contains(&"bad_password".to_owned()),
            "{reasons:?}"
        );
        assert!(audit.iter().any(|(a, _)| a == "signin.succeeded"));
        assert!(audit.iter().any(|(a, _)| a == "session.started"));
        assert!(
            !format!("{audit:?}").contains("wrong password!"),
            "passwords never reach the audit trail"
        );
    }
);

both_backends!(forms_without_a_valid_csrf_token_are_refused, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    let csrf = b.get("/o/acme/login").await.csrf();
    let res = b
        .post(
            "/o/acme/login",
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf", "forged-token-forged-token-forged-token"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(b.session("acme").is_none());
    // A cross-site form post (wrong Origin) is refused even with the right token.
    let res = reqwest::Client::new()
        .post(format!("{}/o/acme/login", app.address))
        .header("origin", "https://evil.example")
        .header("cookie", format!("pc_csrf={csrf}"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.state
            .store
            .user_sessions(org.id, crate::signin::user_id(&app, &org).await, true)
            .await
            .unwrap()
            .len(),
        0
    );
});

pub async fn user_id(app: &TestApp, org: &Org) -> portcullis::accounts::UserId {
    let email = portcullis::accounts::EmailAddress::parse(EMAIL).unwrap();
    app.state
        .store
        .user_by_email(org.id, &email)
        .await
        .unwrap()
        .unwrap()
        .id
}

both_backends!(idle_absolute_and_remember_me_lifetimes, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;

    // Idle timeout (default 2 h): activity inside the window extends it.
    let mut b = Browser::new(&app.address, FIREFOX);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let idle_session = session_id(&app, &org, &b).await;
    for _ in 0..3 {
        app.clock.advance(minutes(110));
        assert_eq!(
            b.get("/o/acme/account").await.status,
            200,
            "activity keeps the session alive"
        );
    }
    app.clock.advance(minutes(121));
    assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
    assert_eq!(
        end_reason(&app, &org, idle_session).await,
        Some(EndReason::IdleExpired)
    );
    let page = b.get("/o/acme/account").await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with("/o/acme/login"));

    // Absolute lifetime: ends the session despite activity.
    app.state
        .sessions
        .set_policy(
            org.id,
            SessionPolicy {
                idle_timeout_secs: 7200,
                absolute_lifetime_secs: 4 * 3600,
                ..SessionPolicy::default()
            },
            "test",
        )
        .await
        .unwrap();
    let mut b = Browser::new(&app.address, FIREFOX);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let abs_session = session_id(&app, &org, &b).await;
    for _ in 0..3 {
        app.clock.advance(minutes(70));
        assert_eq!(b.get("/o/acme/account").await.status, 200);
    }
    app.clock.advance(minutes(31));
    assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
    assert_eq!(
        end_reason(&app, &org, abs_session).await,
        Some(EndReason::AbsoluteExpired)
    );
    assert_eq!(b.get("/o/acme/account").await.status, 303);

    // Remember-me: lives for the remember-me lifetime (30 days), idle or not.
    let mut b = Browser::new(&app.address, FIREFOX);
    let ok = b.sign_in("acme", EMAIL, PASSWORD, true).await;
    let cookie = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("pc_session="))
        .unwrap();
    assert!(
        cookie.contains(&format!("Max-Age={}", 30 * 24 * 3600)),
        "{cookie}"
    );
    let remembered = session_id(&app, &org, &b).await;
    app.clock.advance(chrono::Duration::days(29));
    assert_eq!(app.state.sessions.sweep().await.unwrap(), 0);
    assert_eq!(b.get("/o/acme/account").await.status, 200);
    app.clock.advance(chrono::Duration::days(1) + minutes(1));
    assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
    assert_eq!(
        end_reason(&app, &org, remembered).await,
        Some(EndReason::AbsoluteExpired)
    );
    assert_eq!(b.get("/o/acme/account").await.status, 303);
});

both_backends!(no_session_fixation, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    // An attacker plants a session cookie value before sign-in.
    b.set_session("acme", "attacker-chosen-value-attacker-chosen-value");
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let first = b.session("acme").unwrap();
    assert_ne!(first, "attacker-chosen-value-attacker-chosen-value");
    // Signing in again issues another id; the earlier one never becomes the new session.
    let csrf = b.get("/o/acme/account").await.csrf();
    let again = b
        .post(
            "/o/acme/login",
            &[("email", EMAIL), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 303);
    let second = b.session("acme").unwrap();
    assert_ne!(first, second);
    let mut attacker = Browser::new(&app.address, CHROME);
    attacker.set_session("acme", "attacker-chosen-value-attacker-chosen-value");
    assert_eq!(attacker.get("/o/acme/account").await.status, 303);
    let _ = org;
});

both_backends!(org_a_cookie_means_nothing_at_org_b, |backend| {
    let app = TestApp::spawn(&backend).await;
    acme(&app).await;
    app.state.orgs.create("globex", None, "test").await.unwrap();
    let mut b = Browser::new(&app.address, FIREFOX);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let token = b.session("acme").unwrap();
    // Even sent deliberately to org B's path, org A's cookie is not a session there.
    b.set_session("globex", &token);
    let page = b.get("/o/globex/account").await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().starts_with("/o/globex/login"),
        "{}",
        page.location()
    );
    assert_eq!(b.get("/o/acme/account").await.status, 200);
});

both_backends!(concurrent_wrong_passwords_are_all_counted, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    let csrf = b.get("/o/acme/login").await.csrf();
    let cookie = format!("pc_csrf={csrf}");
    let client = reqwest::Client::new();
    let attempts = (0..50).map(|i| {
        let client = client.clone();
        let url = format!("{}/o/acme/login", app.address);
        let cookie = cookie.clone();
        let csrf = csrf.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .header("cookie", cookie)
                .form(&[
                    ("email", EMAIL),
                    ("password", &format!("wrong password {i}")),
                    ("csrf", &csrf),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let failed = app
        .state
        .store
        .recent_audit(org.id, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|(a, _)| a == "signin.failed")
        .count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(failed + throttled, 50, "every attempt is accounted for");
    // Reserved before argon2: never more checks than the allowance (see security::throttle).
    assert!(
        failed as i64 <= portcullis::authn::throttle::ACCOUNT_FREE_FAILURES + 1,
        "{failed}"
    );
    // Whatever the waiting caps let through, more wrong guesses reach the limit.
    for _ in 0..portcullis::authn::throttle::ACCOUNT_FREE_FAILURES {
        let page = b.sign_in("acme", EMAIL, "wrong password!", false).await;
        assert!(page.status == 401 || page.status == 429, "{}", page.status);
    }
    // Locked now, even with the right password…
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 429);
    // …and after the backoff window the right password works.
    app.clock.advance(minutes(16));
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
});

both_backends!(
    account_page_lists_and_ends_sessions_and_changes_password,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut laptop = Browser::new(&app.address, FIREFOX);
        let mut phone = Browser::new(&app.address, CHROME);
        let mut tablet = Browser::new(&app.address, CHROME);
        for b in [&mut laptop, &mut phone, &mut tablet] {
            assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        }
        let phone_id = session_id(&app, &org, &phone).await;
        let tablet_id = session_id(&app, &org, &tablet).await;

        let account = laptop.get("/o/acme/account").await;
        assert_eq!(account.body.matches("data-testid=\"session\"").count(), 3);
        assert_eq!(account.body.matches("(this device)").count(), 1);
        assert!(account.body.contains("Chrome on Windows"));

        // Sign out one other session.
        let csrf = account.csrf();
        let res = laptop
            .post(
                &format!("/o/acme/account/sessions/{phone_id}/end"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.status, 303);
        assert_eq!(
            end_reason(&app, &org, phone_id).await,
            Some(EndReason::SignedOutElsewhere)
        );
        assert_eq!(phone.get("/o/acme/account").await.status, 303);
        assert_eq!(
            laptop
                .get("/o/acme/account")
                .await
                .body
                .matches("data-testid=\"session\"")
                .count(),
            2
        );

        // Another user cannot end Alice's sessions by id.
        let bob = CreateUser {
            email: "bob@acme.test",
            password: Some(PASSWORD),
            name: None,
            role: Role::Member,
        };
        app.state
            .accounts
            .create_user(&org, bob, "test")
            .await
            .unwrap();
        let mut bobs = Browser::new(&app.address, FIREFOX);
        assert_eq!(
            bobs.sign_in("acme", "bob@acme.test", PASSWORD, false)
                .await
                .status,
            303
        );
        let bcsrf = bobs.get("/o/acme/account").await.csrf();
        bobs.post(
            &format!("/o/acme/account/sessions/{tablet_id}/end"),
            &[("csrf", &bcsrf)],
        )
        .await;
        assert_eq!(end_reason(&app, &org, tablet_id).await, None);

        // Change password: the current one is required; other sessions end on request.
        let wrong = laptop
            .post(
                "/o/acme/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", "not it at all"),
                    ("new_password", "a new long password"),
                    ("end_other_sessions", "on"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("current password is incorrect"));
        let ok = laptop
            .post(
                "/o/acme/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", PASSWORD),
                    ("new_password", "a new long password"),
                    ("end_other_sessions", "on"),
                ],
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(
            end_reason(&app, &org, tablet_id).await,
            Some(EndReason::PasswordChanged)
        );
        assert_eq!(
            laptop.get("/o/acme/account").await.status,
            200,
            "the current session stays"
        );
        let mut fresh = Browser::new(&app.address, FIREFOX);
        assert_eq!(
            fresh.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            401
        );
        assert_eq!(
            fresh
                .sign_in("acme", EMAIL, "a new long password", false)
                .await
                .status,
            303
        );

        // The sign-out button ends the current session.
        let csrf = laptop.get("/o/acme/account").await.csrf();
        let laptop_id = session_id(&app, &org, &laptop).await;
        let out = laptop.post("/o/acme/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 200);
        assert!(out.body.contains("You have signed out."));
        assert_eq!(
            end_reason(&app, &org, laptop_id).await,
            Some(EndReason::Logout)
        );
        assert!(laptop.session("acme").is_none(), "the cookie is cleared");
    }
);

both_backends!(disabling_the_org_ends_its_sessions, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let id = session_id(&app, &org, &b).await;
    app.state
        .orgs
        .set_status("acme", portcullis::tenancy::OrgStatus::Disabled, "test")
        .await
        .unwrap();
    assert_eq!(
        end_reason(&app, &org, id).await,
        Some(EndReason::OrgDisabled)
    );
    assert_eq!(b.get("/o/acme/account").await.status, 403);
});

// Sessions survive a Redis FLUSHALL and restart; ended ones stay ended (the database is the
// truth). Uses its own redis-server so flushing cannot disturb other tests.
both_backends!(
    database_is_the_truth_across_redis_flush_and_restart,
    |backend| {
        let db = TestDb::create(&backend).await;
        let port = free_port();
        let mut redis = crate::cache::RedisServer::start(port);
        let url = format!("redis://127.0.0.1:{port}");
        let app =
            TestApp::spawn_on(&db.url, Some((url.clone(), "pctest:flush:".into())), |f| f).await;
        assert!(
            crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
                app.state.cache.health().await == portcullis::store::cache::CacheHealth::Ok
            })
            .await
        );
        let org = acme(&app).await;
        let mut live = Browser::new(&app.address, FIREFOX);
        let mut gone = Browser::new(&app.address, CHROME);
        assert_eq!(
            live.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        assert_eq!(
            gone.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        let gone_token = gone.session("acme").unwrap();
        let csrf = gone.get("/o/acme/account").await.csrf();
        assert_eq!(
            gone.post("/o/acme/logout", &[("csrf", &csrf)]).await.status,
            200
        );
        gone.set_session("acme", &gone_token);

        let redis_client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = redis_client
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            live.get("/o/acme/account").await.status,
            200,
            "a live session survives FLUSHALL"
        );
        assert_eq!(
            gone.get("/o/acme/account").await.status,
            303,
            "an ended session stays ended"
        );

        drop(conn);
        redis.restart(port);
        assert!(
            crate::helpers::eventually(std::time::Duration::from_secs(30), || async {
                app.state.cache.health().await == portcullis::store::cache::CacheHealth::Ok
            })
            .await
        );
        assert_eq!(
            live.get("/o/acme/account").await.status,
            200,
            "a live session survives a restart"
        );
        assert_eq!(gone.get("/o/acme/account").await.status, 303);
        let _ = org;
    }
);

mod two_nodes_sign_out_others {
    use super::*;
    use crate::helpers::Backend;

    /// "Sign out all other sessions" on node B ends a session that node A refuses at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(backend) = Backend::external() else {
            return;
        };
        let node_a = TestApp::spawn(&backend).await;
        let node_b = TestApp::spawn_on(&node_a.db_url, node_a.redis.clone(), |f| f).await;
        acme(&node_a).await;
        let mut on_a = Browser::new(&node_a.address, FIREFOX);
        let mut on_b = Browser::new(&node_b.address, CHROME);
        assert_eq!(
            on_a.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        assert_eq!(
            on_a.get("/o/acme/account").await.status,
            200,
            "node A has the session warm"
        );
        assert_eq!(
            on_b.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        let csrf = on_b.get("/o/acme/account").await.csrf();
        assert_eq!(
            on_b.post("/o/acme/account/sessions/end-others", &[("csrf", &csrf)])
                .await
                .status,
            303
        );
        let page = on_a.get("/o/acme/account").await;
        assert_eq!(page.status, 303, "node A refuses at once");
        assert_eq!(on_b.get("/o/acme/account").await.status, 200);
    }
}

/// Waits out the in-process cache (org and policy entries live one second there); with Redis
/// the writer already dropped the shared entry.
fn after_cli_change(app: &TestApp) {
    if !app.state.cache.is_shared() {
        app.clock.advance(chrono::Duration::seconds(1));
    }
}

both_backends!(cli_policy_and_branding_changes_apply_at_once, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    assert!(
        b.get("/o/acme/login")
            .await
            .body
            .contains("Keep me signed in")
    );
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let id = session_id(&app, &org, &b).await;

    let out = app
        .cli()
        .run(&[
            "org",
            "set-session-policy",
            "acme",
            "--idle-timeout-secs",
            "600",
            "--remember-me-allowed",
            "false",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let policy: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(policy["idle_timeout_secs"], 600);
    assert_eq!(
        policy["absolute_lifetime_secs"],
        12 * 3600,
        "unset options keep their value"
    );
    after_cli_change(&app);
    let mut other = Browser::new(&app.address, CHROME);
    assert!(
        !other
            .get("/o/acme/login")
            .await
            .body
            .contains("Keep me signed in")
    );
    // The shorter idle timeout applies to the session that started under the old policy.
    app.clock.advance(minutes(11));
    assert_eq!(b.get("/o/acme/account").await.status, 303);
    assert_eq!(
        end_reason(&app, &org, id).await,
        Some(EndReason::IdleExpired)
    );

    let bad = app
        .cli()
        .run(&[
            "org",
            "set-session-policy",
            "acme",
            "--idle-timeout-secs",
            "5",
        ])
        .await;
    assert!(!bad.success);
    assert!(bad.stderr.contains("idle timeout"), "{}", bad.stderr);

    let out = app
        .cli()
        .run(&[
            "org",
            "update",
            "acme",
            "--accent-color",
            "#FF8800",
            "--logo-url",
            "https://cdn.acme.test/logo.png",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    after_cli_change(&app);
    assert!(b.get("/o/acme/branding.css").await.body.contains("#ff8800"));
    assert!(
        b.get("/o/acme/login")
            .await
            .body
            .contains("https://cdn.acme.test/logo.png")
    );
    for (flag, value) in [
        ("--accent-color", "red; } body { x"),
        ("--logo-url", "http://insecure.test/l.png"),
    ] {
        let out = app.cli().run(&["org", "update", "acme", flag, value]).await;
        assert!(!out.success, "{flag} {value}");
        assert!(out.stderr.contains("invalid branding"), "{}", out.stderr);
    }
    assert!(b.get("/o/acme/branding.css").await.body.contains("#ff8800"));
});

both_backends!(disabling_a_user_ends_their_sessions, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let id = session_id(&app, &org, &b).await;
    let out = app
        .cli()
        .run(&[
            "user", "disable", "--org", "acme", "--email", EMAIL, "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        end_reason(&app, &org, id).await,
        Some(EndReason::UserDisabled)
    );
    after_cli_change(&app);
    assert_eq!(
        b.get("/o/acme/account").await.status,
        303,
        "refused on the running node"
    );
    // A disabled user gets the same answer as a wrong password.
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 401);
    assert!(
        app.cli()
            .run(&["user", "enable", "--org", "acme", "--email", EMAIL])
            .await
            .success
    );
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let out = app
        .cli()
        .run(&[
            "user",
            "disable",
            "--org",
            "acme",
            "--email",
            "nobody@acme.test",
        ])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("nobody@acme.test"), "{}", out.stderr);
});

both_backends!(
    throttling_falls_back_to_a_stricter_local_limit_without_redis,
    |backend| {
        let db = TestDb::create(&backend).await;
        // Nothing listens on this port: the shared counters are unreachable.
        let down = format!("redis://127.0.0.1:{}", free_port());
        let app = TestApp::spawn_on(&db.url, Some((down, "pctest:down:".into())), |f| {
            f.merge(("cache.op_timeout_ms", 200))
        })
        .await;
        acme(&app).await;
        let mut b = Browser::new(&app.address, FIREFOX);
        for _ in 0..portcullis::authn::throttle::LOCAL_ACCOUNT_FREE_FAILURES + 1 {
            assert_eq!(
                b.sign_in("acme", EMAIL, "wrong password!", false)
                    .await
                    .status,
                401
            );
        }
        // Locked, never unlimited, even though the cache is down.
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 429);
        app.clock.advance(minutes(1));
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    }
);

both_backends!(
    activity_is_coalesced_and_old_hashes_are_upgraded,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let user = user_id(&app, &org).await;

        // A hash made with weaker parameters is replaced at the next successful sign-in.
        let weak = {
            use argon2::password_hash::{PasswordHasher as _, SaltString};
            let params = argon2::Params::new(8192, 1, 1, None).unwrap();
            let a =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            a.hash_password(
                PASSWORD.as_bytes(),
                &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
            )
            .unwrap()
            .to_string()
        };
        app.state
            .store
            .set_user_password_hash(org.id, user, &weak, None, None, app.clock.now())
            .await
            .unwrap();
        let mut b = Browser::new(&app.address, FIREFOX);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        let upgraded = app
            .state
            .store
            .user_password_hash(org.id, user)
            .await
            .unwrap()
            .unwrap();
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{upgraded}"
        );

        // Requests inside the touch interval cost no database write; the next one after it does.
        let id = session_id(&app, &org, &b).await;
        let seen = |app: &TestApp| {
            let store = app.state.store.clone();
            let org = org.id;
            async move {
                store
                    .session_by_id(org, id)
                    .await
                    .unwrap()
                    .unwrap()
                    .last_seen_at
            }
        };
        let start = seen(&app).await;
        app.clock.advance(chrono::Duration::seconds(
            portcullis::sessions::TOUCH_INTERVAL_SECS - 1,
        ));
        assert_eq!(b.get("/o/acme/account").await.status, 200);
        assert_eq!(seen(&app).await, start);
        app.clock.advance(chrono::Duration::seconds(2));
        assert_eq!(b.get("/o/acme/account").await.status, 200);
        assert_eq!(seen(&app).await, app.clock.now());
    }
);

both_backends!(only_trusted_proxies_set_the_client_ip, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let spoofing = |base: &str| {
        let mut b = Browser::new(base, FIREFOX);
        b.user_agent = FIREFOX.into();
        b
    };
    // From an untrusted peer the header is ignored.
    let mut b = spoofing(&app.address);
    let login = b.get("/o/acme/login").await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/o/acme/login", app.address))
        .header("cookie", format!("pc_csrf={}", login.csrf()))
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", login.csrf().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let sessions = app
        .state
        .store
        .user_sessions(org.id, user_id(&app, &org).await, false)
        .await
        .unwrap();
    assert_eq!(sessions[0].ip.as_deref(), Some("127.0.0.1"));

    // Behind a trusted proxy the right-most untrusted address is the client.
    let proxied = TestApp::spawn_on(&app.db_url, app.redis.clone(), |f| {
        f.merge(("http.trusted_proxies", vec!["127.0.0.1"]))
    })
    .await;
    let login = b.get("/o/acme/login").await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/o/acme/login", proxied.address))
        .header("cookie", format!("pc_csrf={}", login.csrf()))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", login.csrf().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let sessions = app
        .state
        .store
        .user_sessions(org.id, user_id(&app, &org).await, false)
        .await
        .unwrap();
    let mut ips: Vec<_> = sessions.iter().filter_map(|s| s.ip.clone()).collect();
    ips.sort();
    assert_eq!(ips, vec!["127.0.0.1".to_owned(), "203.0.113.7".to_owned()]);
});

both_backends!(browsers_sending_a_null_origin_can_sign_in, |backend| {
    // Chromium sends `Origin: null` on form posts from pages with `Referrer-Policy: no-referrer`.
    let app = TestApp::spawn(&backend).await;
    acme(&app).await;
    let mut b = Browser::new(&app.address, FIREFOX);
    let csrf = b.get("/o/acme/login").await.csrf();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/o/acme/login", app.address))
        .header("origin", "null")
        .header("cookie", format!("pc_csrf={csrf}"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // …but a null origin does not replace the token.
    let res = reqwest::Client::new()
        .post(format!("{}/o/acme/login", app.address))
        .header("origin", "null")
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
});
