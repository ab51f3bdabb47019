//! Item 3 of the review: ended sessions must never come back from the cache, whatever the
//! interleaving of reads, ends and outages.

use crate::browser::Browser;
use crate::cache::RedisServer;
use crate::helpers::{TestApp, free_port};
use crate::signin::{EMAIL, PASSWORD, acme};
use portcullis::clock::Clock;
use portcullis::sessions::EndReason;
use portcullis::store::cache::{CacheHealth, CacheKey};
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn session_key(org: portcullis::tenancy::OrgId, token: &str) -> CacheKey {
    CacheKey::org_copy(org, "session", &portcullis::secrets::sha256_hex(token))
}

/// A browser signed in as alice at `address`, and its session cookie's value.
async fn signed_in(address: &str) -> (Browser, String) {
    let mut b = Browser::new(address, UA);
    assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
    let token = b.session("acme").unwrap();
    (b, token)
}

/// The session row behind a cookie value, as the database has it.
async fn stored_session(
    app: &TestApp,
    org: portcullis::tenancy::OrgId,
    token: &str,
) -> portcullis::sessions::Session {
    app.state
        .store
        .session_by_token_hash(org, &portcullis::secrets::sha256_hex(token))
        .await
        .unwrap()
        .unwrap()
}

/// Whether a browser holding only this cookie value is sent to sign in by the account page.
async fn cookie_refused(address: &str, token: &str) -> bool {
    let mut thief = Browser::new(address, UA);
    thief.set_session("acme", token);
    thief.get("/o/acme/account").await.status == 303
}

/// A throwaway Redis, `nodes` nodes of one deployment on it (a short operation timeout, so an
/// outage is noticed quickly), and a signed-in user whose session the first node has cached.
struct Outage {
    redis: RedisServer,
    nodes: Vec<TestApp>,
    org: portcullis::tenancy::Org,
    token: String,
    _db: TestApp,
}

impl Outage {
    async fn start(backend: &crate::helpers::Backend, nodes: usize) -> Self {
        let port = free_port();
        let redis = RedisServer::start(port);
        let url = format!("redis://127.0.0.1:{port}");
        let prefix = format!("pctest:{}:", uuid::Uuid::new_v4().simple());
        let db = TestApp::spawn(backend).await;
        let mut spawned = Vec::new();
        for _ in 0..nodes {
            let node = TestApp::spawn_on(&db.db_url, Some((url.clone(), prefix.clone())), |f| {
                f.merge(("cache.op_timeout_ms", 300))
            })
            .await;
            spawned.push(node);
        }
        let first = &spawned[0];
        // Wait for the fresh redis-server to answer.
        assert!(
            crate::helpers::eventually(Duration::from_secs(10), || async {
                first.state.cache.health().await == CacheHealth::Ok
            })
            .await
        );
        let org = acme(first).await;
        let (_, token) = signed_in(&first.address).await;
        for node in &spawned {
            assert!(
                node.state
                    .sessions
                    .current(org.id, &token)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        Self {
            redis,
            nodes: spawned,
            org,
            token,
            _db: db,
        }
    }

    async fn session(&self) -> portcullis::sessions::Session {
        stored_session(&self.nodes[0], self.org.id, &self.token).await
    }

    /// Every node refuses the ended session, through the service and the account page.
    async fn assert_signed_out(&self, why: &str) {
        for node in &self.nodes {
            assert!(
                node.state
                    .sessions
                    .current(self.org.id, &self.token)
                    .await
                    .unwrap()
                    .is_none(),
                "{why}"
            );
            assert!(cookie_refused(&node.address, &self.token).await, "{why}");
        }
    }
}

both_backends!(
    a_copy_read_before_a_sign_out_cannot_be_stored_after_it,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let (mut b, token) = signed_in(&app.address).await;
        // A request read the live session (from the database) just before the sign-out…
        let stale = stored_session(&app, org.id, &token).await;
        let csrf = b.get("/o/acme/account").await.csrf();
        assert_eq!(
            b.post("/o/acme/logout", &[("csrf", &csrf)]).await.status,
            200
        );
        // …and stores its copy after it: the copy must not land.
        app.state
            .cache
            .set_json(
                &session_key(org.id, &token),
                &stale,
                Duration::from_secs(3600),
            )
            .await;
        assert!(
            app.state
                .sessions
                .current(org.id, &token)
                .await
                .unwrap()
                .is_none(),
            "an ended session came back from the cache"
        );
        assert!(cookie_refused(&app.address, &token).await);
    }
);

both_backends!(
    concurrent_readers_racing_sign_outs_revive_nothing,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut tokens = Vec::new();
        let mut browsers = Vec::new();
        for _ in 0..8 {
            let (b, token) = signed_in(&app.address).await;
            tokens.push(token);
            browsers.push(b);
        }
        // Many readers per session, reading while the sessions are ended.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for token in &tokens {
            for _ in 0..12 {
                let sessions = app.state.sessions.clone();
                let token = token.clone();
                let stop = stop.clone();
                let org_id = org.id;
                readers.push(tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = sessions.current(org_id, &token).await;
                        tokio::task::yield_now().await;
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for b in &mut browsers {
            let csrf = b.get("/o/acme/account").await.csrf();
            assert_eq!(
                b.post("/o/acme/logout", &[("csrf", &csrf)]).await.status,
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
        // A quiet period, then the check: every signed-out cookie stays signed out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut revived = 0;
        for token in &tokens {
            if app
                .state
                .sessions
                .current(org.id, token)
                .await
                .unwrap()
                .is_some()
            {
                revived += 1;
            }
            if !cookie_refused(&app.address, token).await {
                revived += 1;
            }
        }
        assert_eq!(revived, 0, "signed-out sessions came back");
    }
);

both_backends!(
    a_copy_read_during_a_redis_outage_never_outlives_an_end_on_another_node,
    |backend| {
        let outage = Outage::start(&backend, 2).await;
        let (a, b) = (&outage.nodes[0], &outage.nodes[1]);
        let org = outage.org.id;
        // Redis stops answering. Node B reads the live session from the database…
        outage.redis.signal("-STOP");
        assert!(
            b.state
                .sessions
                .current(org, &outage.token)
                .await
                .unwrap()
                .is_some()
        );
        // …then node A ends it.
        let s = outage.session().await;
        a.state
            .sessions
            .end(org, s.id, EndReason::Logout, "test")
            .await
            .unwrap();
        // Redis answers again; A replays its end first, then B whatever it kept.
        outage.redis.signal("-CONT");
        a.state.cache.health().await;
        b.state.cache.health().await;
        assert_eq!(a.state.cache.pending_writes(), 0);
        assert_eq!(b.state.cache.pending_writes(), 0);
        outage
            .assert_signed_out("an ended session lives again in the cache")
            .await;
    }
);

both_backends!(
    a_node_back_from_an_outage_does_not_trust_copies_from_before_it,
    |backend| {
        let outage = Outage::start(&backend, 1).await;
        let node = &outage.nodes[0];
        // Redis stops answering; the node notices. Another node ends the session in the
        // database and stops before Redis returns: its tombstone never reaches Redis.
        outage.redis.signal("-STOP");
        assert_eq!(node.state.cache.health().await, CacheHealth::Degraded);
        let s = outage.session().await;
        node.state
            .store
            .end_session(
                outage.org.id,
                s.id,
                EndReason::AdminRevoked,
                "test",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        // Redis is back with the copy from before the outage: the node must not trust it.
        outage.redis.signal("-CONT");
        assert_eq!(node.state.cache.health().await, CacheHealth::Ok);
        outage
            .assert_signed_out("a copy from before the outage was trusted over the database's end")
            .await;
    }
);

both_backends!(
    a_flood_of_short_lived_entries_keeps_the_in_process_cache_bounded,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        if app.state.cache.is_shared() {
            // Redis bounds itself (maxmemory and its eviction policy are the operator's).
            return;
        }
        let org = acme(&app).await;
        let (mut b, _) = signed_in(&app.address).await;
        let cache = &app.state.cache;
        // An anonymous flood of five-minute ceremony flows, past the bound.
        // (A literal, not the constant, so the same test ran against the unbounded cache.)
        let flood = 105_000_usize;
        assert!(flood > portcullis::store::cache::MAX_MEMORY_ENTRIES);
        for i in 0..flood {
            cache
                .set_json(
                    &CacheKey::org(org.id, "webauthn-flow", &i.to_string()),
                    &i,
                    Duration::from_secs(300),
                )
                .await;
        }
        // The oldest writes made room; the newest are there.
        let first = CacheKey::org(org.id, "webauthn-flow", "0");
        let last = CacheKey::org(org.id, "webauthn-flow", &(flood - 1).to_string());
        assert_eq!(cache.get_json::<usize>(&first).await, None, "unbounded");
        assert_eq!(cache.get_json::<usize>(&last).await, Some(flood - 1));
        // The signed-in user is still served (from the cache or the database).
        assert_eq!(b.get("/o/acme/account").await.status, 200);
    }
);

both_backends!(
    a_copy_whose_tombstone_was_lost_dies_at_the_next_touch,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let (mut b, token) = signed_in(&app.address).await;
        assert_eq!(b.get("/o/acme/account").await.status, 200);
        // Ended in the database by a process whose tombstone never reached the cache (a CLI
        // run that could not reach Redis, a node that stopped during an outage).
        let s = stored_session(&app, org.id, &token).await;
        app.state
            .store
            .end_session(
                org.id,
                s.id,
                EndReason::AdminRevoked,
                "test",
                app.clock.now(),
            )
            .await
            .unwrap();
        // At the latest at the next activity update, the copy is found out and dropped.
        app.clock.advance(chrono::Duration::seconds(
            portcullis::sessions::TOUCH_INTERVAL_SECS + 1,
        ));
        assert!(
            app.state
                .sessions
                .current(org.id, &token)
                .await
                .unwrap()
                .is_none(),
            "the copy kept the session alive"
        );
        assert_eq!(b.get("/o/acme/account").await.status, 303);
        // Signing out of it is not an error.
        let csrf = b.csrf_cookie("acme");
        assert_eq!(
            b.post("/o/acme/logout", &[("csrf", &csrf)]).await.status,
            200
        );
    }
);
