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
use std::sync::{Arc, Mutex};
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
    /// Threads holding a connection slot of this cache (`LOCAL`).
    locals: Arc<AtomicUsize>,
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
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script)
            .arg(1)
            .arg(self.key(key))
            .arg(value)
            .arg(ttl_ms(ttl));
        for arg in extra {
            cmd.arg(arg);
        }
        self.run(|mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<i64>(&mut conn).await.map(|_| ()) }
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
            locals: Arc::default(),
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
    /// most `MAX_LOCAL_CONNECTIONS` threads hold one; others share one connection. The slot
    /// comes along so that a failure empties it wherever the task has moved by then.
    fn conn(&self) -> (ConnectionManager, Option<Slot>) {
        let local = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let slot = match local.iter().find(|e| e.cache == self.id) {
                Some(entry) => entry.slot.clone(),
                None => {
                    if self.locals.fetch_add(1, Ordering::SeqCst) >= MAX_LOCAL_CONNECTIONS {
                        self.locals.fetch_sub(1, Ordering::SeqCst);
                        return None;
                    }
                    let entry = LocalEntry {
                        cache: self.id,
                        slot: Arc::default(),
                        _counted: Counted(self.locals.clone()),
                    };
                    let slot = entry.slot.clone();
                    local.push(entry);
                    slot
                }
            };
            let mut held = slot.lock().unwrap_or_else(|p| p.into_inner());
            let conn = match held.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = ConnectionManager::new_lazy_with_config(
                        self.client.clone(),
                        self.config.clone(),
                    )
                    .ok()?;
                    *held = Some(conn.clone());
                    conn
                }
            };
            drop(held);
            Some((conn, Some(slot)))
        });
        local
            .ok()
            .flatten()
            .unwrap_or_else(|| (self.manager.clone(), None))
    }

    /// Runs one operation on this thread's connection within `cache.op_timeout_ms`. A failure
    /// empties the thread's slot (the next use connects afresh). When the thread's own
    /// connection turns out closed (Redis's idle `timeout`, a proxy or NAT dropping a quiet
    /// worker's connection), the operation runs once more on a fresh one instead of failing,
    /// which would open the cache's circuit for the whole node. (A connection that dropped
    /// after Redis ran the command runs it twice: an `INCR` then counts one more, a `GETDEL`'s
    /// value is lost; both are as rare as a connection dying mid-command.)
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let (conn, slot) = self.conn();
            let failure = match tokio::time::timeout(self.op_timeout, op(conn)).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => {
                    let closed = err.is_connection_dropped();
                    (closed, CacheError::Unavailable(err.to_string()))
                }
                Err(_) => (false, CacheError::Timeout),
            };
            let own = slot.is_some();
            if let Some(slot) = slot {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            match failure {
                (true, _) if own && !retried => retried = true,
                (_, err) => return Err(err),
            }
        }
    }
}

/// One thread's connection of one cache; empty until first used, emptied by a failure.
type Slot = Arc<Mutex<Option<ConnectionManager>>>;

/// A thread's slot for one `RedisCache`.
struct LocalEntry {
    cache: u64,
    slot: Slot,
    _counted: Counted,
}

/// Gives the thread's place back to its cache's count when the thread ends.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Threads that get a connection of their own, per cache (the HTTP workers, one per core by
/// default, and the few of the main runtime).
const MAX_LOCAL_CONNECTIONS: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection slots, one per `RedisCache` it used (by `id`).
    static LOCAL: RefCell<Vec<LocalEntry>> = const { RefCell::new(Vec::new()) };
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
        let key = self.key(key);
        self.run(|mut conn| {
            let key = &key;
            async move { conn.get::<_, Option<Vec<u8>>>(key).await }
        })
        .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms(ttl));
        self.run(|mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
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
        // GETDEL is atomic: of two nodes taking one code, exactly one gets it.
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.run(|mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<Option<Vec<u8>>>(&mut conn).await }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = self.key(key);
        self.run(|mut conn| {
            let key = &key;
            async move { conn.del::<_, ()>(key).await }
        })
        .await
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
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = self
                .run(|mut conn| {
                    let scan = &scan;
                    async move { scan.query_async(&mut conn).await }
                })
                .await?;
            if !keys.is_empty() {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(SCRIPT)
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(fence)
                    .arg(ttl_ms(ttl));
                let n: u64 = self
                    .run(|mut conn| {
                        let cmd = &cmd;
                        async move { cmd.query_async(&mut conn).await }
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
        let key = self.key(key);
        // One MULTI: the counter and its expiry (set only if none yet, Redis ≥ 7) never part.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms(ttl))
            .arg("NX")
            .ignore();
        self.run(|mut conn| {
            let pipe = &pipe;
            async move {
                let (count,): (i64,) = pipe.query_async(&mut conn).await?;
                Ok(count)
            }
        })
        .await
    }

    async fn publish(&self, message: &str) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel_name).arg(message);
        self.run(|mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<String> {
        self.channel.subscribe()
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    fn shared(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
