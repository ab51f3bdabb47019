//! In-process cache for the embedded single-node default. Expiry follows the injected clock.
//!
//! Bounded: entries are indexed by expiry and by age, so expired ones are dropped as writes come
//! in (O(log n) per write, never a scan of the whole map), and past `MAX_ENTRIES` the oldest
//! writes go first. An anonymous flood of short-lived state (ceremony flows) thus costs every
//! request the same few operations however large the map grows, and evicts only what is older
//! than the last `MAX_ENTRIES` writes: codes, counters and pending steps written during the
//! flood outlive their own lifetimes unless the flood writes `MAX_ENTRIES` entries first.

use super::{CacheBackend, CacheError, TOMBSTONE, is_marker};
use crate::clock::SharedClock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

struct Entry {
    value: Vec<u8>,
    expires: DateTime<Utc>,
    seq: u64,
}

/// Most entries held at once; beyond it the oldest writes are evicted.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// (expiry, insertion number) → key: the order in which entries expire.
    by_expiry: BTreeMap<(DateTime<Utc>, u64), String>,
    /// insertion number → key: the order in which entries were written.
    by_age: BTreeMap<u64, String>,
    seq: u64,
}

impl Entries {
    fn live(&self, key: &str, now: DateTime<Utc>) -> Option<&Entry> {
        self.map.get(key).filter(|e| e.expires > now)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.by_expiry.remove(&(entry.expires, entry.seq));
        self.by_age.remove(&entry.seq);
        Some(entry)
    }

    fn insert(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        max: usize,
    ) {
        self.remove(key);
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.by_expiry.insert((expires, seq), key.to_owned());
        self.by_age.insert(seq, key.to_owned());
        self.map.insert(
            key.to_owned(),
            Entry {
                value,
                expires,
                seq,
            },
        );
        // Expired entries first, then (only when still over the bound) the oldest writes.
        while let Some((&(at, _), k)) = self.by_expiry.first_key_value() {
            if at > now {
                break;
            }
            let k = k.clone();
            self.remove(&k);
        }
        while self.map.len() > max {
            let Some((_, k)) = self.by_age.first_key_value() else {
                break;
            };
            let k = k.clone();
            self.remove(&k);
        }
    }
}

pub struct MemoryCache {
    clock: SharedClock,
    entries: Mutex<Entries>,
    max_entries: usize,
    channel: broadcast::Sender<String>,
}

impl MemoryCache {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_capacity(clock, MAX_ENTRIES)
    }

    /// A cache holding at most `max_entries` entries.
    pub fn with_capacity(clock: SharedClock, max_entries: usize) -> Self {
        let (channel, _) = broadcast::channel(1024);
        Self {
            clock,
            entries: Mutex::new(Entries::default()),
            max_entries: max_entries.max(1),
            channel,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries held now (expired ones included until a write drops them).
    pub fn len(&self) -> usize {
        self.entries().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A conditional set under one lock (nothing can be written between the check and the
    /// set): nothing changes when `refuse` says no to what the key holds (`None`: nothing).
    fn set_unless(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        refuse: impl FnOnce(Option<&[u8]>) -> bool,
    ) -> Result<(), CacheError> {
        let now = self.clock.now();
        let expires = self.deadline(ttl);
        let mut entries = self.entries();
        if refuse(entries.live(key, now).map(|e| e.value.as_slice())) {
            return Ok(());
        }
        entries.insert(key, value.to_vec(), expires, now, self.max_entries);
        Ok(())
    }

    fn deadline(&self, ttl: Duration) -> DateTime<Utc> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        self.clock
            .now()
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[async_trait]
impl CacheBackend for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = self.clock.now();
        Ok(self.entries().live(key, now).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let now = self.clock.now();
        let expires = self.deadline(ttl);
        self.entries()
            .insert(key, value.to_vec(), expires, now, self.max_entries);
        Ok(())
    }

    async fn set_unless_ended(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.set_unless(key, value, ttl, |held| held.is_some_and(is_marker))
    }

    async fn set_unless_tombstone(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.set_unless(key, value, ttl, |held| held == Some(TOMBSTONE))
    }

    async fn set_if_unchanged(
        &self,
        key: &str,
        seen: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.set_unless(key, value, ttl, |held| held != seen)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = self.clock.now();
        Ok(self
            .entries()
            .remove(key)
            .filter(|e| e.expires > now)
            .map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries().remove(key);
        Ok(())
    }

    async fn purge_prefix(
        &self,
        prefix: &str,
        fence: &[u8],
        ttl: Duration,
    ) -> Result<u64, CacheError> {
        let now = self.clock.now();
        let expires = self.deadline(ttl);
        let mut entries = self.entries();
        let doomed: Vec<String> = entries
            .map
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && !is_marker(&e.value))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &doomed {
            entries.insert(k, fence.to_vec(), expires, now, self.max_entries);
        }
        Ok(doomed.len() as u64)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        let now = self.clock.now();
        let mut entries = self.entries();
        let current = entries.live(key, now).and_then(|e| {
            let n = std::str::from_utf8(&e.value).ok()?.parse::<i64>().ok()?;
            Some((n, e.expires))
        });
        let (count, expires) = match current {
            Some((n, expires)) => (n.saturating_add(1), expires),
            None => (1, self.deadline(ttl)),
        };
        entries.insert(
            key,
            count.to_string().into_bytes(),
            expires,
            now,
            self.max_entries,
        );
        Ok(count)
    }

    async fn publish(&self, message: &str) -> Result<(), CacheError> {
        // No subscriber is not an error: nobody holds a copy to drop.
        let _ = self.channel.send(message.to_owned());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<String> {
        self.channel.subscribe()
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn shared(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn entries_expire_with_the_clock() {
        let clock = Arc::new(FixedClock::at_epoch());
        let cache = MemoryCache::new(clock.clone());
        cache.set("k", b"v", Duration::from_secs(10)).await.unwrap();
        clock.advance(chrono::Duration::seconds(9));
        assert_eq!(cache.get("k").await.unwrap(), Some(b"v".to_vec()));
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(cache.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_is_single_use() {
        let cache = MemoryCache::new(Arc::new(FixedClock::at_epoch()));
        cache
            .set("code", b"x", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.take("code").await.unwrap(), Some(b"x".to_vec()));
        assert_eq!(cache.take("code").await.unwrap(), None);
    }

    #[tokio::test]
    async fn counters_keep_their_first_expiry() {
        let clock = Arc::new(FixedClock::at_epoch());
        let cache = MemoryCache::new(clock.clone());
        assert_eq!(cache.incr("c", Duration::from_secs(60)).await.unwrap(), 1);
        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(cache.incr("c", Duration::from_secs(60)).await.unwrap(), 2);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(cache.incr("c", Duration::from_secs(60)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn publish_reaches_subscribers() {
        let cache = MemoryCache::new(Arc::new(FixedClock::at_epoch()));
        let mut rx = cache.subscribe();
        cache.publish("o:1:x").await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), "o:1:x");
    }

    #[tokio::test]
    async fn the_map_is_bounded_and_evicts_the_oldest_writes() {
        let clock = Arc::new(FixedClock::at_epoch());
        let cache = MemoryCache::with_capacity(clock.clone(), 100);
        for i in 0..1000 {
            cache
                .set(&format!("flow{i}"), b"f", Duration::from_secs(300))
                .await
                .unwrap();
        }
        // A short-lived code written during the flood survives the next writes.
        cache
            .set("code", b"c", Duration::from_secs(60))
            .await
            .unwrap();
        for i in 1000..1050 {
            cache
                .set(&format!("flow{i}"), b"f", Duration::from_secs(300))
                .await
                .unwrap();
        }
        assert_eq!(cache.len(), 100);
        assert_eq!(cache.get("code").await.unwrap(), Some(b"c".to_vec()));
        assert_eq!(cache.get("flow0").await.unwrap(), None);
        // Expired entries go as writes come in: every flow and the code have run out.
        clock.advance(chrono::Duration::seconds(301));
        cache.set("x", b"x", Duration::from_secs(10)).await.unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn copies_never_overwrite_a_tombstone() {
        let cache = MemoryCache::new(Arc::new(FixedClock::at_epoch()));
        let ttl = Duration::from_secs(60);
        cache.set_unless_ended("k", b"live", ttl).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(b"live".to_vec()));
        cache.set("k", TOMBSTONE, ttl).await.unwrap();
        cache.set_unless_ended("k", b"stale", ttl).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(TOMBSTONE.to_vec()));
    }
}
