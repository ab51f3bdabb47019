//! Issue 15, item 1: the single-use values a flow cannot do without (authorization codes,
//! WebAuthn ceremony state, pending sign-in steps) survive a cache outage, and stay single use
//! across nodes whatever the cache does (up, down, coming back).
//!
//! Two nodes of one deployment share one database and a throwaway `redis-server`, frozen with
//! SIGSTOP in the middle of each test (it keeps its data and answers nothing, as a Redis behind
//! a partition) and thawed with SIGCONT.

use crate::browser::Browser;
use crate::cache::RedisServer;
use crate::helpers::{Rp, TestApp, follow_to_app, free_port, pkce, query_params};
use crate::signin::{EMAIL, PASSWORD, acme};
use crate::webauthn::{Key, body, enrol, finish, start};
use portcullis::store::cache::CacheHealth;
use std::time::Duration;

/// `oidc::service::CODE_TTL_SECS`.
const CODE_TTL_SECS: i64 = 60;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A throwaway Redis and two nodes on it and on one database (a short cache operation timeout,
/// so an outage is noticed quickly), with the org `acme` and its user.
struct Deployment {
    redis: RedisServer,
    a: TestApp,
    b: TestApp,
    org: portcullis::tenancy::Org,
    _db: TestApp,
}

impl Deployment {
    async fn start(backend: &crate::helpers::Backend) -> Self {
        let port = free_port();
        let redis = RedisServer::start(port);
        let url = format!("redis://127.0.0.1:{port}");
        let prefix = format!("pctest:{}:", uuid::Uuid::new_v4().simple());
        let db = TestApp::spawn(backend).await;
        // A node waits at most a second for a lock another client holds (see
        // `lock_single_use_values`).
        let db_url = if db.db_url.starts_with("postgres") {
            let mut u = url::Url::parse(&db.db_url).unwrap();
            u.query_pairs_mut()
                .append_pair("options", "-c lock_timeout=1000");
            u.to_string()
        } else {
            db.db_url.clone()
        };
        let node = || {
            TestApp::spawn_on(&db_url, Some((url.clone(), prefix.clone())), |f| {
                f.merge(("cache.op_timeout_ms", 300))
            })
        };
        let a = node().await;
        let b = node().await;
        for n in [&a, &b] {
            assert!(
                crate::helpers::eventually(Duration::from_secs(10), || async {
                    n.state.cache.health().await == CacheHealth::Ok
                })
                .await,
                "the throwaway redis-server did not answer"
            );
        }
        let org = acme(&a).await;
        Self {
            redis,
            a,
            b,
            org,
            _db: db,
        }
    }

    /// Redis stops answering; both nodes notice.
    async fn cache_down(&self) {
        self.redis.signal("-STOP");
        assert_eq!(self.a.state.cache.health().await, CacheHealth::Degraded);
        assert_eq!(self.b.state.cache.health().await, CacheHealth::Degraded);
    }

    /// Redis answers again; both nodes replay what they queued and close their circuits.
    async fn cache_back(&self) {
        self.back_at(&[&self.a, &self.b]).await
    }

    /// Redis answers again; `nodes` replay what they queued and close their circuits (another
    /// node does so at its next probe, up to a second later).
    async fn back_at(&self, nodes: &[&TestApp]) {
        self.redis.signal("-CONT");
        for n in nodes {
            assert!(
                crate::helpers::eventually(Duration::from_secs(10), || async {
                    n.state.cache.health().await == CacheHealth::Ok
                })
                .await,
                "a node did not recover from the outage"
            );
            assert_eq!(n.state.cache.pending_writes(), 0);
        }
    }

    /// Moves both nodes' clocks together.
    fn advance(&self, by: chrono::Duration) {
        self.a.clock.advance(by);
        self.b.clock.advance(by);
    }
}

/// A code for `rp` from `node`, signing the browser in with the password if needed; and the
/// PKCE verifier that redeems it.
async fn code_at(rp: &Rp, b: &mut Browser, node: &TestApp) -> (String, String) {
    let (challenge, verifier) = pkce();
    b.base = node.address.clone();
    let path = rp.authorize_path(&[
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let location = follow_to_app(b, "acme", &rp.redirect_uri, &path).await;
    let q = query_params(&location);
    assert!(!q.contains_key("error"), "{location}");
    (q.get("code").cloned().expect("a code"), verifier)
}

both_backends!(
    codes_are_usable_during_a_cache_outage_and_single_use_across_nodes,
    |backend| {
        let d = Deployment::start(&backend).await;
        let rp_a = Rp::web(&d.a, &d.org, "shop").await;
        let rp_b = rp_a.at_node(&d.b);
        let mut browser = Browser::new(&d.a.address, UA);

        // A code issued before the outage…
        let (before, before_verifier) = code_at(&rp_a, &mut browser, &d.a).await;
        d.cache_down().await;
        // …is redeemed once during it, on the other node…
        let answer = rp_b.exchange(&before, Some(&before_verifier)).await;
        assert_eq!(
            answer.status, 200,
            "a code issued before the outage: {answer:?}"
        );
        let first = crate::helpers::Tokens::of(&answer);
        assert!(rp_b.active(&first.access).await);
        // …and refused the second time, on the first node, which ends what the first use made.
        rp_a.exchange(&before, Some(&before_verifier))
            .await
            .assert_error(400, "invalid_grant");
        assert!(
            !rp_b.active(&first.access).await,
            "a reused code must end what its first use granted"
        );
        rp_a.refresh(&first.refresh)
            .await
            .assert_error(400, "invalid_grant");

        // A whole code flow during the outage: password sign-in and authorization on node B,
        // the exchange on node A, then userinfo.
        let mut fresh = Browser::new(&d.b.address, UA);
        let (during, during_verifier) = code_at(&rp_b, &mut fresh, &d.b).await;
        assert!(fresh.session("acme").is_some());
        let answer = rp_a.exchange(&during, Some(&during_verifier)).await;
        assert_eq!(
            answer.status, 200,
            "a code flow during the outage: {answer:?}"
        );
        let tokens = crate::helpers::Tokens::of(&answer);
        let info = rp_b.userinfo(&tokens.access).await;
        assert_eq!(info.status, 200, "{info:?}");
        assert_eq!(info.json["email"], EMAIL);

        // Codes issued during the outage, redeemed after Redis is back.
        let (later, later_verifier) = code_at(&rp_a, &mut browser, &d.a).await;
        let (unused, unused_verifier) = code_at(&rp_b, &mut fresh, &d.b).await;
        // One that expires during the outage: expiry is exact on the injected clock.
        let (expiring, expiring_verifier) = code_at(&rp_a, &mut browser, &d.a).await;
        // Redis returns. Node B is back first, and the code node A issued is redeemed there
        // before node A has replayed anything it queued during the outage.
        d.back_at(&[&d.b]).await;
        let answer = rp_b.exchange(&later, Some(&later_verifier)).await;
        assert_eq!(
            answer.status, 200,
            "a code issued during the outage: {answer:?}"
        );
        d.cache_back().await;

        // Single use after Redis returns: once on one node, refused on the other.
        rp_a.exchange(&later, Some(&later_verifier))
            .await
            .assert_error(400, "invalid_grant");
        rp_b.exchange(&later, Some(&later_verifier))
            .await
            .assert_error(400, "invalid_grant");
        let answer = rp_a.exchange(&unused, Some(&unused_verifier)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        rp_b.exchange(&unused, Some(&unused_verifier))
            .await
            .assert_error(400, "invalid_grant");
        // The code redeemed during the outage stays used.
        rp_b.exchange(&during, Some(&during_verifier))
            .await
            .assert_error(400, "invalid_grant");

        // Sixty seconds after its issue a code is refused, on either node.
        d.advance(chrono::Duration::seconds(CODE_TTL_SECS));
        rp_b.exchange(&expiring, Some(&expiring_verifier))
            .await
            .assert_error(400, "invalid_grant");
    }
);

both_backends!(
    a_code_one_second_before_its_expiry_is_still_good,
    |backend| {
        let d = Deployment::start(&backend).await;
        let rp_a = Rp::web(&d.a, &d.org, "shop").await;
        let rp_b = rp_a.at_node(&d.b);
        let mut browser = Browser::new(&d.a.address, UA);
        let (code, verifier) = code_at(&rp_a, &mut browser, &d.a).await;
        d.advance(chrono::Duration::seconds(CODE_TTL_SECS - 1));
        let answer = rp_b.exchange(&code, Some(&verifier)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
);

/// The user's passkey, and a security key for the second factor (added in a session the passkey
/// started), both enrolled while the cache is up.
async fn keys(d: &Deployment) -> (Key, Key) {
    let mut passkey = Key::new();
    enrol(&d.a, &mut passkey, "passkey").await;
    let mut second = Key::new();
    let mut b = Browser::new(&d.a.address, UA);
    b.get("/o/acme/login").await;
    let (flow, options) = start(&mut b, "passkey-login", "passkey").await;
    let done = finish(
        &mut b,
        "acme",
        "passkey-login",
        &flow,
        &passkey.assert(&options),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (flow, options) = start(&mut b, "register", "security_key").await;
    let reg = second.register(&options, false);
    let done = finish(&mut b, "acme", "register", &flow, &reg).await;
    assert_eq!(done.status, 200, "{}", done.body);
    (passkey, second)
}

both_backends!(
    a_passkey_sign_in_completes_during_a_cache_outage,
    |backend| {
        let d = Deployment::start(&backend).await;
        let (mut key, _) = keys(&d).await;
        d.cache_down().await;

        // The ceremony starts on node A and finishes on node B.
        let mut browser = Browser::new(&d.a.address, UA);
        browser.get("/o/acme/login").await;
        let (flow, options) = start(&mut browser, "passkey-login", "passkey").await;
        let answer = key.assert(&options);
        browser.base = d.b.address.clone();
        let done = finish(&mut browser, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(
            done.status, 200,
            "a passkey sign-in during the outage: {}",
            done.body
        );
        assert_eq!(browser.get("/o/acme/account").await.status, 200);
        // The ceremony state is single use: the same answer on node A finds nothing, during the
        // outage and after it.
        for phase in ["during", "after"] {
            if phase == "after" {
                d.cache_back().await;
            }
            let mut replay = Browser::new(&d.a.address, UA);
            replay.get("/o/acme/login").await;
            let again = finish(&mut replay, "acme", "passkey-login", &flow, &answer).await;
            assert_eq!(again.status, 400, "{phase}: {}", again.body);
            assert_eq!(body(&again)["error"], "flow_expired");
            assert!(replay.session("acme").is_none());
        }

        // A ceremony started during the outage finishes after it, on the other node, once.
        d.cache_down().await;
        let mut browser = Browser::new(&d.b.address, UA);
        browser.get("/o/acme/login").await;
        let (flow, options) = start(&mut browser, "passkey-login", "passkey").await;
        let answer = key.assert(&options);
        d.cache_back().await;
        browser.base = d.a.address.clone();
        let done = finish(&mut browser, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(done.status, 200, "{}", done.body);
        browser.base = d.b.address.clone();
        let again = finish(&mut browser, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(again.status, 400, "{}", again.body);
    }
);

both_backends!(a_second_factor_completes_during_a_cache_outage, |backend| {
    let d = Deployment::start(&backend).await;
    let (_, mut second) = keys(&d).await;
    d.cache_down().await;

    // Password on node B (the pending step), the ceremony started on node A and finished on
    // node B.
    let mut browser = Browser::new(&d.b.address, UA);
    let step1 = browser.sign_in("acme", EMAIL, PASSWORD, false).await;
    assert_eq!(step1.status, 303);
    assert!(
        step1.location().starts_with("/o/acme/login/key"),
        "{}",
        step1.location()
    );
    assert!(browser.session("acme").is_none());
    browser.base = d.a.address.clone();
    assert_eq!(browser.get("/o/acme/login/key").await.status, 200);
    let (flow, options) = start(&mut browser, "second-factor", "security_key").await;
    let answer = second.assert(&options);
    browser.base = d.b.address.clone();
    let done = finish(&mut browser, "acme", "second-factor", &flow, &answer).await;
    assert_eq!(
        done.status, 200,
        "a second factor during the outage: {}",
        done.body
    );
    assert_eq!(browser.get("/o/acme/account").await.status, 200);
    // The pending step is used up, on every node, during the outage and after it.
    let start_again = |b: &mut Browser| {
        let mut b = b.clone();
        async move {
            b.post_json(
                "/o/acme/webauthn/second-factor/start",
                &serde_json::json!({}),
            )
            .await
        }
    };
    browser.base = d.a.address.clone();
    let res = start_again(&mut browser).await;
    assert_eq!(res.status, 400, "{}", res.body);
    d.cache_back().await;
    for node in [&d.a, &d.b] {
        browser.base = node.address.clone();
        let res = start_again(&mut browser).await;
        assert_eq!(res.status, 400, "{}", res.body);
    }

    // A pending step made during the outage finishes after it, on the other node.
    d.cache_down().await;
    let mut browser = Browser::new(&d.a.address, UA);
    browser.sign_in("acme", EMAIL, PASSWORD, false).await;
    assert!(browser.session("acme").is_none());
    d.cache_back().await;
    browser.base = d.b.address.clone();
    let (flow, options) = start(&mut browser, "second-factor", "security_key").await;
    let done = finish(
        &mut browser,
        "acme",
        "second-factor",
        &flow,
        &second.assert(&options),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(browser.get("/o/acme/account").await.status, 200);
});

/// Another client holds the lock on the single-use values past what a node waits for it: SQLite's
/// write lock (`BEGIN EXCLUSIVE`, which in WAL mode still lets readers read) past the busy timeout,
/// or a PostgreSQL table lock past the node's `lock_timeout` (set on its connections by
/// `Deployment::start`). Both are a database that cannot answer in time: an outage, not a bug.
async fn lock_single_use_values(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{
        ConnectionTrait, Database, DbBackend, SqliteTransactionMode, TransactionOptions,
        TransactionTrait,
    };
    let db = Database::connect(app.db_url.as_str()).await.unwrap();
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Exclusive),
            ..Default::default()
        })
        .await
        .unwrap();
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE single_use_values IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
    }
    txn
}

both_backends!(
    a_database_failure_answers_503_and_keeps_the_flow,
    |backend| {
        let d = Deployment::start(&backend).await;
        let (mut key, _) = keys(&d).await;
        let rp = Rp::web(&d.a, &d.org, "shop").await;
        // Another browser signed in with the passkey gets a code.
        let mut signed_in = Browser::new(&d.a.address, UA);
        signed_in.get("/o/acme/login").await;
        let (other, other_options) = start(&mut signed_in, "passkey-login", "passkey").await;
        let other_answer = key.assert(&other_options);
        let done = finish(
            &mut signed_in,
            "acme",
            "passkey-login",
            &other,
            &other_answer,
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.body);
        let (code, verifier) = code_at(&rp, &mut signed_in, &d.a).await;
        let mut browser = Browser::new(&d.a.address, UA);
        browser.get("/o/acme/login").await;
        let (flow, options) = start(&mut browser, "passkey-login", "passkey").await;
        // (Answered after the other sign-in: the key's counter only grows.)
        let answer = key.assert(&options);

        let lock = lock_single_use_values(&d.a).await;
        // Not "start again", not "invalid code": the server cannot tell right now.
        let done = finish(&mut browser, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(done.status, 503, "{}", done.body);
        rp.exchange(&code, Some(&verifier))
            .await
            .assert_error(503, "temporarily_unavailable");
        let page = signed_in.get(&rp.authorize_path(&[])).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let q = query_params(page.location());
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("temporarily_unavailable"),
            "{}",
            page.location()
        );

        // The database is back: the same flow and the same code still work, once.
        lock.rollback().await.unwrap();
        let done = finish(&mut browser, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let answer = rp.exchange(&code, Some(&verifier)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        rp.exchange(&code, Some(&verifier))
            .await
            .assert_error(400, "invalid_grant");
    }
);

both_backends!(
    single_use_values_are_taken_once_per_org_and_swept,
    |backend| {
        use portcullis::clock::Clock;
        use portcullis::store::SingleUseKind as K;
        let app = TestApp::spawn(&backend).await;
        let store = &app.state.store;
        let acme = acme(&app).await;
        let globex = app.state.orgs.create("globex", None, "test").await.unwrap();
        let now = app.clock.now();
        let later = now + chrono::Duration::seconds(60);
        store
            .put_single_use(acme.id, K::AuthorizationCode, "secret", "grant", later)
            .await
            .unwrap();
        // Another org, another kind: not found, not taken.
        for (org, kind) in [
            (globex.id, K::AuthorizationCode),
            (acme.id, K::WebauthnFlow),
            (acme.id, K::PendingLogin),
        ] {
            assert_eq!(
                store
                    .get_single_use(org, kind, "secret", now)
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(
                store
                    .take_single_use(org, kind, "secret", now)
                    .await
                    .unwrap(),
                None
            );
        }
        // Read without using it up; expired exactly at its expiry.
        let get = |at| store.get_single_use(acme.id, K::AuthorizationCode, "secret", at);
        assert_eq!(get(now).await.unwrap().as_deref(), Some("grant"));
        assert_eq!(
            get(later - chrono::Duration::seconds(1))
                .await
                .unwrap()
                .as_deref(),
            Some("grant")
        );
        assert_eq!(get(later).await.unwrap(), None);
        // Only the hash of the secret is stored.
        use sea_orm::{ConnectionTrait, Database};
        let db = Database::connect(app.db_url.as_str()).await.unwrap();
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT key_hash FROM single_use_values",
            ))
            .await
            .unwrap();
        let hashes: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "key_hash").unwrap())
            .collect();
        assert_eq!(hashes, vec![portcullis::secrets::sha256_hex("secret")]);

        // Sixteen parallel takers: exactly one gets the value.
        let takers = (0..16).map(|_| {
            let store = store.clone();
            let org = acme.id;
            tokio::spawn(async move {
                store
                    .take_single_use(org, K::AuthorizationCode, "secret", now)
                    .await
                    .unwrap()
            })
        });
        let mut got = Vec::new();
        for t in takers {
            if let Some(v) = t.await.unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got, vec!["grant".to_owned()]);

        // An expired value is refused by take (and gone); the sweeper deletes the others.
        store
            .put_single_use(acme.id, K::PendingLogin, "p1", "x", later)
            .await
            .unwrap();
        store
            .put_single_use(acme.id, K::PendingLogin, "p2", "y", later)
            .await
            .unwrap();
        store
            .put_single_use(
                globex.id,
                K::WebauthnFlow,
                "f1",
                "z",
                later + chrono::Duration::seconds(60),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .take_single_use(acme.id, K::PendingLogin, "p1", later)
                .await
                .unwrap(),
            None
        );
        app.clock.advance(chrono::Duration::seconds(60));
        app.state.sessions.sweep().await.unwrap();
        // Looked for as of before the expiry: p2 is gone, f1 (not expired) is still there.
        assert_eq!(
            store
                .get_single_use(acme.id, K::PendingLogin, "p2", now)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .get_single_use(globex.id, K::WebauthnFlow, "f1", now)
                .await
                .unwrap()
                .as_deref(),
            Some("z")
        );
        let left = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT key_hash FROM single_use_values",
            ))
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        db.close().await.unwrap();
    }
);
