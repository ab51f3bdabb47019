//! The cache: atomic operations and invalidation on both backends, and a node that keeps
//! serving while Redis is down and recovers when it comes back.

use crate::helpers::{TestApp, eventually, free_port, test_figment};
use portcullis::clock::FixedClock;
use portcullis::config::Config;
use portcullis::store::cache::CacheKey;
use portcullis::tenancy::OrgId;
use portcullis_api_types::Readiness;
use std::sync::Arc;
use std::time::Duration;

/// A throwaway redis-server on a port of our choosing, killed when dropped.
pub struct RedisServer(std::process::Child);

impl RedisServer {
    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: it keeps its data but answers nothing
    /// meanwhile, as a Redis behind a network partition.
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Stops the server (losing everything in it) and starts a new one on the same port.
    pub fn restart(&mut self, port: u16) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        *self = Self::start(port);
    }

    pub fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test (apt-get install redis-server)");
        Self(child)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn readiness(app: &TestApp) -> (u16, Readiness) {
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

both_backends!(node_serves_without_redis_and_recovers, |backend| {
    let port = free_port();
    let redis_url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::spawn(&backend).await;
    // A node of the same deployment whose Redis is down (nothing listens on the port).
    let node = TestApp::spawn_on(&app.db_url, Some((redis_url, "pctest:down:".into())), |f| {
        f.merge(("cache.op_timeout_ms", 300))
    })
    .await;

    // Requests are still served, from the database.
    assert_eq!(node.get("/healthz").await.status(), 200);
    assert_eq!(node.get("/o/system/").await.status(), 200);
    assert_eq!(node.get("/o/nope/").await.status(), 404);
    node.state.orgs.create("acme", None, "test").await.unwrap();
    assert_eq!(node.get("/o/acme/").await.status(), 200);

    let (status, ready) = readiness(&node).await;
    assert_eq!(
        status, 200,
        "the database is fine, so the node stays in rotation"
    );
    assert_eq!(ready.cache, "degraded");
    assert_eq!(ready.status, "degraded");
    assert_eq!(ready.database, "ok");

    // Writes are queued for retry, not lost.
    let key = CacheKey::org(OrgId(uuid::Uuid::now_v7()), "probe", "1");
    node.state
        .cache
        .set_json(&key, &"kept", Duration::from_secs(300))
        .await;
    assert!(node.state.cache.pending_writes() >= 1);
    assert_eq!(node.state.cache.get_json::<String>(&key).await, None);

    // Redis comes back: readiness recovers and the queued write lands.
    let _redis = RedisServer::start(port);
    assert!(
        eventually(Duration::from_secs(30), || async {
            readiness(&node).await.1.cache == "ok"
        })
        .await,
        "readiness did not recover"
    );
    assert!(
        eventually(Duration::from_secs(30), || async {
            node.state.cache.get_json::<String>(&key).await.as_deref() == Some("kept")
        })
        .await,
        "the queued write was not retried"
    );
    assert_eq!(node.state.cache.pending_writes(), 0);
    assert_eq!(readiness(&node).await.1.status, "ready");
    assert_eq!(node.get("/o/acme/").await.status(), 200);
});

both_backends!(take_is_single_use_and_counters_expire, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cache = &app.state.cache;
    let org = OrgId(uuid::Uuid::now_v7());

    // Take: exactly one of many concurrent takers gets the value.
    let key = CacheKey::org(org, "code", "abc");
    cache
        .set_json(&key, &"grant", Duration::from_secs(60))
        .await;
    let takers = (0..8).map(|_| {
        let cache = cache.clone();
        let key = key.clone();
        tokio::spawn(async move { cache.take(&key).await.unwrap() })
    });
    let mut won = 0;
    for t in takers {
        if t.await.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);

    // Counters are exact under concurrency.
    let counter = CacheKey::org(org, "attempts", "x");
    let incs = (0..20).map(|_| {
        let cache = cache.clone();
        let counter = counter.clone();
        tokio::spawn(async move { cache.incr(&counter, Duration::from_secs(60)).await.unwrap() })
    });
    let mut seen = Vec::new();
    for i in incs {
        seen.push(i.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<i64>>());

    // Same key name under another org is another entry.
    let other = CacheKey::org(OrgId(uuid::Uuid::now_v7()), "attempts", "x");
    assert_eq!(
        cache.incr(&other, Duration::from_secs(60)).await.unwrap(),
        1
    );
});

both_backends!(invalidations_reach_other_nodes, |backend| {
    let app = TestApp::spawn(&backend).await;
    let key = CacheKey::platform_copy("org-by-slug", "acme");
    if app.state.cache.is_shared() {
        // A second node's cache on the same Redis and prefix receives what the first publishes.
        let config = Config::from_figment(test_figment(
            &app.db_url,
            app.redis.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        ))
        .unwrap();
        let other =
            portcullis::app::build_cache(&config, Arc::new(FixedClock::at_epoch())).unwrap();
        let mut rx = other.subscribe();
        // The subscription is established in the background; publish until it is heard.
        let mut heard = false;
        for _ in 0..50 {
            app.state.cache.publish_invalidation(&key).await.unwrap();
            if matches!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await, Ok(Ok(m)) if m == key.as_str())
            {
                heard = true;
                break;
            }
        }
        assert!(heard, "the other node never heard the invalidation");
    } else {
        let mut rx = app.state.cache.subscribe();
        app.state.cache.publish_invalidation(&key).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), key.as_str());
    }
});

both_backends!(
    a_copy_read_before_a_change_never_lands_and_one_read_after_it_lands_at_once,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let cache = &app.state.cache;
        let org = OrgId(uuid::Uuid::now_v7());
        let key = CacheKey::org_copy(org, "thing", "1");
        let ttl = Duration::from_secs(60);
        let held = |cache: portcullis::store::cache::Cache, key: CacheKey| async move {
            cache.get_copy::<String>(&key).await.0
        };

        // A reader misses, and a change lands while it reads the database: its copy (read
        // before the change, or maybe after: it cannot know) is refused.
        let (copy, before) = cache.get_copy::<String>(&key).await;
        assert!(copy.is_none());
        cache.fence_copy(&key).await;
        cache.store_copy(&key, before, &"old".to_owned(), ttl).await;
        assert_eq!(held(cache.clone(), key.clone()).await, None);

        // The next reader misses after the change: its copy lands at once, fence or not.
        let (_, after) = cache.get_copy::<String>(&key).await;
        cache
            .store_copy(&key, after.clone(), &"new".to_owned(), ttl)
            .await;
        assert_eq!(
            held(cache.clone(), key.clone()).await.as_deref(),
            Some("new")
        );
        // What one miss saw serves once: a copy is not overwritten by another reader's.
        cache
            .store_copy(&key, after, &"other".to_owned(), ttl)
            .await;
        assert_eq!(
            held(cache.clone(), key.clone()).await.as_deref(),
            Some("new")
        );

        // Two changes: a reader that saw the first fence cannot land after the second.
        cache.fence_copy(&key).await;
        let (_, first) = cache.get_copy::<String>(&key).await;
        cache.fence_copy(&key).await;
        cache
            .store_copy(&key, first, &"stale".to_owned(), ttl)
            .await;
        assert_eq!(held(cache.clone(), key.clone()).await, None);
        // Nor does a writer's own copy land over a fence.
        cache.set_copy(&key, &"writer".to_owned(), ttl).await;
        assert_eq!(held(cache.clone(), key.clone()).await, None);

        // An end is final: a miss on a tombstone gives nothing to store with, and no copy
        // seen before the end lands over it.
        let (_, before_end) = cache.get_copy::<String>(&key).await;
        cache.end_copy(&key).await;
        let (copy, on_tombstone) = cache.get_copy::<String>(&key).await;
        assert!(copy.is_none() && on_tombstone.is_none());
        for seen in [before_end, on_tombstone] {
            cache
                .store_copy(&key, seen, &"revived".to_owned(), ttl)
                .await;
        }
        cache.set_copy(&key, &"revived".to_owned(), ttl).await;
        assert_eq!(held(cache.clone(), key.clone()).await, None);
        // A change after the end does not shorten the end's tombstone to a fence.
        cache.fence_copy(&key).await;
        let (copy, after_fence) = cache.get_copy::<String>(&key).await;
        assert!(
            copy.is_none() && after_fence.is_none(),
            "still the tombstone"
        );
    }
);

#[tokio::test]
async fn a_cache_connection_closed_by_redis_is_replaced_without_opening_the_circuit() {
    // Each thread holds its own connection to Redis; a quiet one may be closed by Redis's idle
    // `timeout` or a proxy. The next command must be served on a fresh connection, not fail
    // and open the node's circuit (a miss for every read, /readyz degraded).
    use portcullis::store::cache::{Cache, CacheHealth, RedisCache};
    let port = free_port();
    let _server = RedisServer::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let admin = redis::Client::open(url.as_str()).unwrap();
    let mut admin_conn = None;
    for _ in 0..100 {
        if let Ok(c) = admin.get_multiplexed_async_connection().await {
            admin_conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admin_conn = admin_conn.expect("the throwaway redis-server never answered");
    let cache =
        Cache::new(RedisCache::new(&url, "pctest:killed:", Duration::from_secs(2)).unwrap());
    let key = CacheKey::platform("test", "kept");
    cache.set_json(&key, &7_i32, Duration::from_secs(60)).await;
    assert_eq!(cache.get_json::<i32>(&key).await, Some(7));

    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"][..])
        .query_async(&mut admin_conn)
        .await
        .unwrap();
    assert!(killed >= 1, "no cache connection was closed");

    assert_eq!(cache.get_json::<i32>(&key).await, Some(7));
    assert_eq!(cache.health().await, CacheHealth::Ok);
}
