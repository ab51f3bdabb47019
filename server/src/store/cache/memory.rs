//! In-process cache for the embedded single-node default. Expiry follows the injected clock.

use super::{CacheBackend, CacheError};
use crate::clock::SharedClock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

struct Entry {
    value: Vec<u8>,
    expires: DateTime<Utc>,
}

/// Entries beyond which a write first sweeps out expired ones.
const SWEEP_AT: usize = 4096;

pub struct MemoryCache {
    clock: SharedClock,
    entries: Mutex<HashMap<String, Entry>>,
    channel: broadcast::Sender<String>,
}

impl MemoryCache {
    pub fn new(clock: SharedClock) -> Self {
        let (channel, _) = broadcast::channel(1024);
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
            channel,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
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
        Ok(self
            .entries()
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let now = self.clock.now();
        let expires = self.deadline(ttl);
        let mut entries = self.entries();
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, e| e.expires > now);
        }
        entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires,
            },
        );
        Ok(())
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

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, CacheError> {
        let now = self.clock.now();
        let expires = self.deadline(ttl);
        let mut entries = self.entries();
        let current = entries
            .get(key)
            .filter(|e| e.expires > now)
            .and_then(|e| std::str::from_utf8(&e.value).ok()?.parse::<i64>().ok());
        let (count, expires) = match current {
            Some(n) => (
                n.saturating_add(1),
                entries.get(key).map_or(expires, |e| e.expires),
            ),
            None => (1, expires),
        };
        entries.insert(
            key.to_owned(),
            Entry {
                value: count.to_string().into_bytes(),
                expires,
            },
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
}
