//! The cache: one `CacheBackend` trait with a Redis and an in-process implementation, behind
//! `Cache`, which keeps the node serving when Redis is unreachable.
//!
//! The database is the truth; the cache only speeds it up. When the backend fails, `Cache`
//! opens a circuit: reads answer "miss" at once (callers fall back to the database), writes are
//! queued and retried once a background probe finds the backend again, and `/readyz` reports
//! the cache as degraded. Operations that must not be faked (`take`, `incr`) return the error,
//! so their callers choose a safe fallback.
//!
//! **Copies of database rows** (sessions, orgs, policies: anything that can end, be revoked or
//! change) follow stricter rules than short-lived state, so that no interleaving of reads, ends
//! and outages can bring an ended row back:
//! - they are written only with `set_copy`, which never overwrites a tombstone (atomically: a
//!   Lua script in Redis, one lock in-process) and is dropped, not queued, while the backend is
//!   away (a queued copy could land after another node's end);
//! - an end writes a tombstone (`end_copy`, `END_TTL`), a change a fence (`fence_copy`,
//!   `FENCE_TTL`, a marker unique to that change); both are queued like deletes during an outage
//!   and replayed before the circuit closes;
//! - a reader that missed reads the database and stores what it read with `store_copy` only if
//!   the key still holds what its miss saw (nothing, or the same fence): a change or end after
//!   the miss replaced that, so a copy read before a change never lands after it, while a copy
//!   read after the change lands at once instead of waiting out the fence;
//! - readers never write a copy back after a cache hit;
//! - a node back from an outage drops every copy (keys under `COPY_PREFIX`, tombstones kept)
//!   before it trusts the cache again: a copy stored before the outage may describe a row that
//!   another node ended meanwhile, and that node's tombstone may land later, or never (if it
//!   stopped). The database answers until copies are rebuilt.

mod memory;
mod redis;

pub use memory::{MAX_ENTRIES as MAX_MEMORY_ENTRIES, MemoryCache};
pub use redis::RedisCache;

use crate::tenancy::OrgId;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// A cache key. Org-owned data is keyed under its org id, so two orgs can never share an entry;
/// the few platform-wide keys (an org looked up by slug before its id is known) say so.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// `o:{org_id}:{kind}:{id}`
    pub fn org(org: OrgId, kind: &str, id: &str) -> Self {
        Self(format!("o:{org}:{kind}:{id}"))
    }

    /// `p:{kind}:{id}`, for lookups that happen before an org is known.
    pub fn platform(kind: &str, id: &str) -> Self {
        Self(format!("p:{kind}:{id}"))
    }

    /// `c:o:{org_id}:{kind}:{id}`: a copy of an org-owned database row (see `Cache::set_copy`).
    /// Copies live under their own prefix so a node back from an outage can drop them all.
    pub fn org_copy(org: OrgId, kind: &str, id: &str) -> Self {
        Self(format!("{COPY_PREFIX}o:{org}:{kind}:{id}"))
    }

    /// `c:p:{kind}:{id}`: a copy of a platform row looked up before an org is known.
    pub fn platform_copy(kind: &str, id: &str) -> Self {
        Self(format!("{COPY_PREFIX}p:{kind}:{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unreachable: {0}")]
    Unavailable(String),
    #[error("cache operation timed out")]
    Timeout,
    #[error("cache circuit open (backend recently unreachable)")]
    CircuitOpen,
}

/// The prefix of every copy of a database row.
pub const COPY_PREFIX: &str = "c:";

/// What every cache implementation offers. Keys are full `CacheKey` strings; implementations
/// may add a deployment prefix.
#[async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    /// Atomically sets the value unless the key holds a marker (a tombstone or a fence; then
    /// nothing changes).
    async fn set_unless_ended(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// Atomically sets the value unless the key holds `TOMBSTONE`: an end outlives any change
    /// (fences use it).
    async fn set_unless_tombstone(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// Atomically sets the value if the key holds exactly `seen` (`None`: nothing).
    async fn set_if_unchanged(
        &self,
        key: &str,
        seen: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// Atomically returns and removes the value: of two concurrent takes, one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Replaces every entry whose key starts with `prefix` by `fence` for `ttl`, except markers
    /// (tombstones and fences, kept). Returns how many. (A fence, not a delete: a reader that
    /// missed on an empty key before the purge must not find it empty again and store a copy
    /// read before a change the purged copy recorded.)
    async fn purge_prefix(
        &self,
        prefix: &str,
        fence: &[u8],
        ttl: Duration,
    ) -> Result<u64, CacheError>;
    /// Atomically increments a counter, starting its expiry at the first increment.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError>;
    /// Tells every node (every subscriber) something, e.g. a key to drop from local copies.
    async fn publish(&self, message: &str) -> Result<(), CacheError>;
    fn subscribe(&self) -> broadcast::Receiver<String>;
    async fn ping(&self) -> Result<(), CacheError>;
    /// True when other processes see the same entries (Redis), false for in-process.
    fn shared(&self) -> bool;
    fn name(&self) -> &'static str;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    Ok,
    Degraded,
}

enum PendingWrite {
    Set {
        key: String,
        value: Vec<u8>,
        expires: Instant,
    },
    Delete {
        key: String,
    },
}

impl PendingWrite {
    fn key(&self) -> &str {
        match self {
            Self::Set { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// Longest life of a copy of database state in an in-process cache.
pub const LOCAL_COPY_TTL: Duration = Duration::from_secs(1);

/// The value a key holds once the row it copies has ended (or changed): copies are never
/// written over it. Not valid JSON, so no reader ever decodes it as a copy.
pub const TOMBSTONE: &[u8] = b"\x00ended";
/// Tombstones and fences start with this byte, which no JSON text does.
pub const MARKER_BYTE: u8 = 0;

/// True for a tombstone or a fence.
pub fn is_marker(value: &[u8]) -> bool {
    value.first() == Some(&MARKER_BYTE)
}

/// True for a fence (a marker other than the end's tombstone).
fn is_fence(value: &[u8]) -> bool {
    is_marker(value) && value != TOMBSTONE
}

/// A fence unique to one change: `\x00fence:` and a random UUID.
fn new_fence() -> Vec<u8> {
    format!("\x00fence:{}", uuid::Uuid::new_v4().simple()).into_bytes()
}

/// What a copy's key held when a reader missed: `Cache::store_copy` stores the copy read
/// afterwards only if the key still holds it. `None` inside: the key held nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySeen(Option<Vec<u8>>);
/// How long the tombstone of an ended row lasts: longer than any copy's TTL and any request
/// that may still hold a copy read before the end.
pub const END_TTL: Duration = Duration::from_secs(2 * 3600);
/// How long a changed (not ended) row's fence lasts: copies read before the change cannot land
/// for this long (copies read after it land at once, see `Cache::store_copy`).
pub const FENCE_TTL: Duration = Duration::from_secs(30);

/// Writes kept for retry while the backend is away; the oldest are dropped beyond this.
const MAX_PENDING_WRITES: usize = 10_000;
/// How often the background task probes a failed backend and retries queued writes.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

struct Inner {
    backend: Box<dyn CacheBackend>,
    healthy: AtomicBool,
    pending: Mutex<VecDeque<PendingWrite>>,
}

/// The cache services use. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.inner.backend.name())
            .field("healthy", &self.inner.healthy.load(Ordering::Relaxed))
            .finish()
    }
}

impl Cache {
    /// Wraps a backend and starts its probe-and-retry task on the current Tokio runtime.
    pub fn new(backend: impl CacheBackend) -> Self {
        let cache = Self {
            inner: Arc::new(Inner {
                backend: Box::new(backend),
                healthy: AtomicBool::new(true),
                pending: Mutex::new(VecDeque::new()),
            }),
        };
        let weak = Arc::downgrade(&cache.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Cache { inner }.recover().await;
            }
        });
        cache
    }

    pub fn in_process(clock: crate::clock::SharedClock) -> Self {
        Self::new(MemoryCache::new(clock))
    }

    pub fn is_shared(&self) -> bool {
        self.inner.backend.shared()
    }

    /// The TTL for a cached copy of database state. Other processes (the CLI, other nodes)
    /// change the database and drop shared entries, but cannot reach an in-process cache, so
    /// there copies live at most one second: any change is seen everywhere within a second.
    pub fn copy_ttl(&self, wanted: Duration) -> Duration {
        if self.is_shared() {
            wanted
        } else {
            wanted.min(LOCAL_COPY_TTL)
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<PendingWrite>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes waiting for the backend to come back.
    pub fn pending_writes(&self) -> usize {
        self.pending().len()
    }

    /// The circuit is open: the backend is treated as unreachable until a check succeeds.
    pub fn circuit_open(&self) -> bool {
        !self.healthy()
    }

    fn healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Acquire)
    }

    fn mark_failed(&self, op: &str, err: &CacheError) {
        if self.inner.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(backend = self.backend_name(), op, error = %err,
                "cache unreachable; serving from the database until it is back");
        } else {
            tracing::debug!(op, error = %err, "cache operation failed");
        }
    }

    fn mark_ok(&self) {
        if !self.inner.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!(backend = self.backend_name(), "cache reachable again");
        }
    }

    fn forget_pending(&self, key: &str) {
        let mut pending = self.pending();
        if !pending.is_empty() {
            pending.retain(|p| p.key() != key);
        }
    }

    fn queue(&self, write: PendingWrite) {
        let mut pending = self.pending();
        // A change queued after an end of the same row must not replace the end's tombstone.
        let is_fence = matches!(&write, PendingWrite::Set { value, .. } if is_fence(value));
        if is_fence
            && pending.iter().any(|p| {
                matches!(p, PendingWrite::Set { key, value, .. }
                    if key == write.key() && value.as_slice() == TOMBSTONE)
            })
        {
            return;
        }
        pending.retain(|p| p.key() != write.key());
        if pending.len() >= MAX_PENDING_WRITES {
            pending.pop_front();
            tracing::warn!("cache retry queue full; dropping the oldest pending write");
        }
        pending.push_back(write);
    }

    /// Probes a failed backend and replays queued writes, oldest first.
    ///
    /// The circuit closes only once the queue is drained: a delete queued during the outage (say,
    /// of an ended session's copy) lands before any read can see the stale entry again.
    async fn recover(&self) {
        let was_down = !self.healthy();
        if was_down && self.inner.backend.ping().await.is_err() {
            return;
        }
        loop {
            let Some(write) = self.pending().pop_front() else {
                if was_down {
                    match self
                        .inner
                        .backend
                        .purge_prefix(COPY_PREFIX, &new_fence(), FENCE_TTL)
                        .await
                    {
                        Ok(n) => {
                            tracing::info!(dropped = n, "dropped cached copies after an outage")
                        }
                        Err(err) => return self.mark_failed("purge", &err),
                    }
                }
                self.mark_ok();
                return;
            };
            let result = match &write {
                PendingWrite::Set {
                    key,
                    value,
                    expires,
                } => {
                    let left = expires.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        continue;
                    }
                    if is_fence(value) {
                        self.inner
                            .backend
                            .set_unless_tombstone(key, value, left)
                            .await
                    } else if is_marker(value) {
                        self.inner.backend.set(key, value, left).await
                    } else {
                        self.inner.backend.set_unless_ended(key, value, left).await
                    }
                }
                PendingWrite::Delete { key } => self.inner.backend.delete(key).await,
            };
            if let Err(err) = result {
                self.mark_failed("retry", &err);
                let mut pending = self.pending();
                if !pending.iter().any(|p| p.key() == write.key()) {
                    pending.push_front(write);
                }
                return;
            }
        }
    }

    /// Checks the backend now (for `/readyz`), updating the circuit.
    pub async fn health(&self) -> CacheHealth {
        match self.inner.backend.ping().await {
            // Reachable: close the circuit the safe way, after replaying queued writes.
            Ok(()) => {
                self.recover().await;
                if self.healthy() {
                    CacheHealth::Ok
                } else {
                    CacheHealth::Degraded
                }
            }
            Err(err) => {
                self.mark_failed("ping", &err);
                CacheHealth::Degraded
            }
        }
    }

    /// A cached value, or `None` on a miss, a decoding problem or an unreachable backend: in
    /// every case the caller reads the database.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &CacheKey) -> Option<T> {
        if !self.healthy() {
            return None;
        }
        match self.inner.backend.get(key.as_str()).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(err) => {
                self.mark_failed("get", &err);
                None
            }
        }
    }

    /// A copy of a database row, if the cache holds one; on a miss, also what the key held
    /// (for `store_copy`). `(None, None)`: an ended row's tombstone, a decoding problem or an
    /// unreachable backend: read the database and store nothing.
    pub async fn get_copy<T: DeserializeOwned>(
        &self,
        key: &CacheKey,
    ) -> (Option<T>, Option<CopySeen>) {
        if !self.healthy() {
            return (None, None);
        }
        match self.inner.backend.get(key.as_str()).await {
            Ok(None) => (None, Some(CopySeen(None))),
            Ok(Some(bytes)) if bytes.as_slice() == TOMBSTONE => (None, None),
            Ok(Some(bytes)) if is_marker(&bytes) => (None, Some(CopySeen(Some(bytes)))),
            Ok(Some(bytes)) => (serde_json::from_slice(&bytes).ok(), None),
            Err(err) => {
                self.mark_failed("get", &err);
                (None, None)
            }
        }
    }

    /// Stores a copy read from the database after `get_copy` missed, if the key still holds
    /// what that miss saw: any end or change since (a tombstone, a new fence, another copy)
    /// wins. Never queued.
    pub async fn store_copy<T: Serialize>(
        &self,
        key: &CacheKey,
        seen: Option<CopySeen>,
        value: &T,
        ttl: Duration,
    ) {
        let Some(CopySeen(seen)) = seen else {
            return;
        };
        if !self.healthy() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        if let Err(err) = self
            .inner
            .backend
            .set_if_unchanged(key.as_str(), seen.as_deref(), &bytes, ttl)
            .await
        {
            self.mark_failed("store_copy", &err);
        }
    }

    /// Stores a value (never over a tombstone); if the backend is away the write is queued and
    /// retried. For short-lived state that lives only in the cache (flows, pending steps); copies
    /// of database rows use `set_copy`, which is never queued.
    pub async fn set_json<T: Serialize>(&self, key: &CacheKey, value: &T, ttl: Duration) {
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        if self.healthy() {
            match self
                .inner
                .backend
                .set_unless_ended(key.as_str(), &bytes, ttl)
                .await
            {
                Ok(()) => return self.forget_pending(key.as_str()),
                Err(err) => self.mark_failed("set", &err),
            }
        }
        self.queue(PendingWrite::Set {
            key: key.as_str().to_owned(),
            value: bytes,
            expires: Instant::now() + ttl,
        });
    }

    /// Stores a copy of a database row unless the key holds a tombstone (its row ended or
    /// changed after this copy may have been read). Never queued: while the backend is away the
    /// copy is dropped, since replaying it later could restore what another node has ended.
    pub async fn set_copy<T: Serialize>(&self, key: &CacheKey, value: &T, ttl: Duration) {
        if !self.healthy() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        if let Err(err) = self
            .inner
            .backend
            .set_unless_ended(key.as_str(), &bytes, ttl)
            .await
        {
            self.mark_failed("set_copy", &err);
        }
    }

    /// Records that the row behind `key` ended: no copy can be stored there for `END_TTL`.
    /// Queued and replayed if the backend is away.
    pub async fn end_copy(&self, key: &CacheKey) {
        self.tombstone(key, TOMBSTONE.to_vec(), END_TTL).await;
    }

    /// Records that the row behind `key` changed: copies read before the change cannot land for
    /// `FENCE_TTL`; the next reader reads the database and stores the new row (`store_copy`).
    pub async fn fence_copy(&self, key: &CacheKey) {
        self.tombstone(key, new_fence(), FENCE_TTL).await;
    }

    async fn tombstone(&self, key: &CacheKey, marker: Vec<u8>, ttl: Duration) {
        if self.healthy() {
            let written = if is_fence(&marker) {
                let backend = &self.inner.backend;
                backend
                    .set_unless_tombstone(key.as_str(), &marker, ttl)
                    .await
            } else {
                self.inner.backend.set(key.as_str(), &marker, ttl).await
            };
            match written {
                Ok(()) => return self.forget_pending(key.as_str()),
                Err(err) => self.mark_failed("tombstone", &err),
            }
        }
        self.queue(PendingWrite::Set {
            key: key.as_str().to_owned(),
            value: marker,
            expires: Instant::now() + ttl,
        });
    }

    /// Drops an entry; if the backend is away the delete is queued and retried, so a stale
    /// copy cannot outlive an outage.
    pub async fn delete(&self, key: &CacheKey) {
        if self.healthy() {
            match self.inner.backend.delete(key.as_str()).await {
                Ok(()) => return self.forget_pending(key.as_str()),
                Err(err) => self.mark_failed("delete", &err),
            }
        }
        self.queue(PendingWrite::Delete {
            key: key.as_str().to_owned(),
        });
    }

    /// Atomic take (single-use values). Errors are returned: the caller decides the fallback.
    pub async fn take(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError> {
        if !self.healthy() {
            return Err(CacheError::CircuitOpen);
        }
        self.inner
            .backend
            .take(key.as_str())
            .await
            .inspect_err(|e| self.mark_failed("take", e))
    }

    /// Atomic counter with expiry. Errors are returned: a rate limiter must then fall back to a
    /// stricter local limit, never to "unlimited".
    pub async fn incr(&self, key: &CacheKey, ttl: Duration) -> Result<i64, CacheError> {
        if !self.healthy() {
            return Err(CacheError::CircuitOpen);
        }
        self.inner
            .backend
            .incr(key.as_str(), ttl)
            .await
            .inspect_err(|e| self.mark_failed("incr", e))
    }

    /// Tells every node to drop its local copy of `key`.
    pub async fn publish_invalidation(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.inner.backend.publish(key.as_str()).await
    }

    /// Invalidation messages from every node (including this one).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.backend.subscribe()
    }

    /// Starts a task that calls `drop(held, message)` for every invalidation message from any
    /// node, with an empty message when some were missed (drop everything then), for as long
    /// as `held` (a node-local copy) lives. Needs a Tokio runtime.
    pub fn on_invalidation<T: Send + Sync + 'static>(
        &self,
        held: &Arc<T>,
        drop: impl Fn(&T, &str) + Send + 'static,
    ) {
        let mut messages = self.subscribe();
        let held = Arc::downgrade(held);
        tokio::spawn(async move {
            loop {
                let message = match messages.recv().await {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(_)) => String::new(),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(held) = held.upgrade() else {
                    return;
                };
                drop(&held, &message);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[tokio::test]
    async fn keys_carry_the_org() {
        let a = OrgId(uuid::Uuid::now_v7());
        let b = OrgId(uuid::Uuid::now_v7());
        assert_ne!(
            CacheKey::org(a, "session", "x"),
            CacheKey::org(b, "session", "x")
        );
        assert!(
            CacheKey::org(a, "session", "x")
                .as_str()
                .contains(&a.to_string())
        );
    }

    #[tokio::test]
    async fn json_round_trip_and_delete() {
        let cache = Cache::in_process(Arc::new(FixedClock::at_epoch()));
        let key = CacheKey::platform("t", "1");
        cache
            .set_json(&key, &vec![1, 2, 3], Duration::from_secs(60))
            .await;
        assert_eq!(cache.get_json::<Vec<i32>>(&key).await, Some(vec![1, 2, 3]));
        cache.delete(&key).await;
        assert_eq!(cache.get_json::<Vec<i32>>(&key).await, None);
        assert_eq!(cache.health().await, CacheHealth::Ok);
        assert_eq!(cache.pending_writes(), 0);
    }
}
