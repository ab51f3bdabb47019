//! Redis cache, shared by every node. A connection manager reconnects after failures; every
//! operation is bounded by `cache.op_timeout_ms` so an unreachable Redis costs a request at most
//! that long (and nothing at all once `Cache` has opened its circuit).

use super::{CacheBackend, CacheError};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub struct RedisCache {
    /// Tells this cache's per-thread connections apart from another instance's (`LOCAL`).
    id: u64,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// The connection of threads past `MAX_LOCAL_CONNECTIONS`.
    manager: ConnectionManager,
    /// Per-thread connections made so far.
    locals: AtomicUsize,
    prefix: String,
    channel_name: String,
    op_timeout: Duration,
    channel: broadcast::Sender<String>,
    listener: JoinHandle<()>,
}

impl RedisCache {
    /// Runs a conditional set: one script (so nothing can be written between its check and its
    /// set) with KEYS[1] the key, ARGV[1] the value, ARGV[2] the TTL in ms, then `extra`. (EVAL
    /// of a short script: the redis crate's `script` feature would only add SHA-1 caching.)
    async fn set_by_script(
        &self,
        script: &'static str,
        key: &str,
        value: &[u8],
        ttl: Duration,
        extra: Vec<Vec<u8>>,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        let value = value.to_vec();
        self.run(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(script).arg(1).arg(key).arg(value).arg(ttl_ms(ttl));
            for arg in extra {
                cmd.arg(arg);
            }
            cmd.query_async::<i64>(&mut conn).await.map(|_| ())
        })
        .await
    }

    /// Creates the client without connecting: the node starts even when Redis is down and
    /// connects when Redis is there.
    pub fn new(url: &str, prefix: &str, op_timeout: Duration) -> Result<Self, CacheError> {
        let client =
            redis::Client::open(url).map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let (channel, _) = broadcast::channel(1024);
        let channel_name = format!("{prefix}invalidate");
        let listener = tokio::spawn(listen(
            client.clone(),
            channel_name.clone(),
            channel.clone(),
        ));
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client: client.clone(),
            config,
            manager,
            locals: AtomicUsize::new(0),
            prefix: prefix.to_owned(),
            channel_name,
            op_timeout,
            channel,
            listener,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// This thread's connection, made on first use: its driver runs on the thread's own
    /// runtime (each HTTP worker's), so a command is not handed to another thread and back
    /// (the profile of introspection on Redis showed a quarter of the CPU in that hop). At
    /// most `MAX_LOCAL_CONNECTIONS` threads get one; others share one connection.
    fn conn(&self) -> ConnectionManager {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if let Some((_, conn)) = local.iter().find(|(id, _)| *id == self.id) {
                return conn.clone();
            }
            if self.locals.fetch_add(1, Ordering::SeqCst) >= MAX_LOCAL_CONNECTIONS {
                self.locals.fetch_sub(1, Ordering::SeqCst);
                return self.manager.clone();
            }
            match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            {
                Ok(conn) => {
                    local.push((self.id, conn.clone()));
                    conn
                }
                Err(_) => {
                    self.locals.fetch_sub(1, Ordering::SeqCst);
                    self.manager.clone()
                }
            }
        })
    }

    /// Drops this thread's connection after a failure, so the next use makes a new one (its
    /// runtime may be gone). The manager reconnects by itself otherwise; this is the backstop.
    fn forget_local(&self) {
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let before = local.len();
            local.retain(|(id, _)| *id != self.id);
            if local.len() < before {
                self.locals.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }

    async fn run<T, F>(&self, op: F) -> Result<T, CacheError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.op_timeout, op).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => CacheError::Unavailable(err.to_string()),
            Err(_) => CacheError::Timeout,
        };
        self.forget_local();
        Err(result)
    }
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Threads that get a connection of their own, per cache (the HTTP workers, one per core by
/// default, and the few of the main runtime).
const MAX_LOCAL_CONNECTIONS: usize = 32;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection per `RedisCache` (by `id`).
    static LOCAL: RefCell<Vec<(u64, ConnectionManager)>> = const { RefCell::new(Vec::new()) };
}

/// Forwards invalidation messages from Redis to local subscribers, resubscribing after any
/// disconnect.
async fn listen(client: redis::Client, channel_name: String, out: broadcast::Sender<String>) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel_name).await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        if let Ok(payload) = msg.get_payload::<String>() {
                            let _ = out.send(payload);
                        }
                    }
                }
                tracing::debug!("redis invalidation subscription ended; resubscribing");
            }
            Err(err) => tracing::debug!(error = %err, "redis subscription failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl CacheBackend for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        self.run(async move { conn.get::<_, Option<Vec<u8>>>(key).await })
            .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        self.run(async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms(ttl))
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn set_unless_ended(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        // A marker (tombstone or fence) starts with a zero byte.
        const SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
             if v and string.byte(v, 1) == 0 then return 0 end \
             redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";
        self.set_by_script(SCRIPT, key, value, ttl, Vec::new())
            .await
    }

    async fn set_unless_tombstone(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[3] then return 0 end \
             redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";
        self.set_by_script(SCRIPT, key, value, ttl, vec![super::TOMBSTONE.to_vec()])
            .await
    }

    async fn set_if_unchanged(
        &self,
        key: &str,
        seen: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        // ARGV[3] is "1" when the key must hold nothing, else "0" and ARGV[4] what it must hold.
        const SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
             if ARGV[3] == '1' then if v then return 0 end \
             elseif v ~= ARGV[4] then return 0 end \
             redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";
        let extra = match seen {
            None => vec![b"1".to_vec(), Vec::new()],
            Some(bytes) => vec![b"0".to_vec(), bytes.to_vec()],
        };
        self.set_by_script(SCRIPT, key, value, ttl, extra).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        // GETDEL is atomic: of two nodes taking one code, exactly one gets it.
        self.run(async move {
            redis::cmd("GETDEL")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        self.run(async move { conn.del::<_, ()>(key).await }).await
    }

    async fn purge_prefix(
        &self,
        prefix: &str,
        fence: &[u8],
        ttl: Duration,
    ) -> Result<u64, CacheError> {
        // SCAN in batches (never KEYS, which blocks Redis); in each batch one script replaces
        // every copy by the fence and keeps markers. Rare (after an outage), so the pass over
        // the keyspace is fine.
        const SCRIPT: &str = "local n = 0 \
             for _, k in ipairs(KEYS) do \
               local v = redis.call('GET', k) \
               if v and string.byte(v, 1) ~= 0 then \
                 redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) n = n + 1 \
               end \
             end return n";
        // Every glob character of the deployment's prefix is escaped: the pattern matches
        // exactly the keys that start with it.
        let mut pattern = String::new();
        for c in self.key(prefix).chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        let mut cursor: u64 = 0;
        let mut dropped: u64 = 0;
        loop {
            let mut conn = self.conn();
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<String>) = self
                .run(async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let mut conn = self.conn();
                let fence = fence.to_vec();
                let ttl = ttl_ms(ttl);
                let n: u64 = self
                    .run(async move {
                        let mut cmd = redis::cmd("EVAL");
                        cmd.arg(SCRIPT)
                            .arg(keys.len())
                            .arg(&keys)
                            .arg(fence)
                            .arg(ttl);
                        cmd.query_async(&mut conn).await
                    })
                    .await?;
                dropped += n;
            }
            if next == 0 {
                return Ok(dropped);
            }
            cursor = next;
        }
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        let mut conn = self.conn();
        let key = self.key(key);
        // One MULTI: the counter and its expiry (set only if none yet, Redis ≥ 7) never part.
        self.run(async move {
            let (count,): (i64,) = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl_ms(ttl))
                .arg("NX")
                .ignore()
                .query_async(&mut conn)
                .await?;
            Ok(count)
        })
        .await
    }

    async fn publish(&self, message: &str) -> Result<(), CacheError> {
        let mut conn = self.conn();
        let channel = self.channel_name.clone();
        let message = message.to_owned();
        self.run(async move { conn.publish::<_, _, ()>(channel, message).await })
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<String> {
        self.channel.subscribe()
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn();
        self.run(async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    fn shared(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
