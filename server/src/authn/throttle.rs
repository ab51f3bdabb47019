//! Sign-in throttling: per-account and per-client-IP failure counters in the shared cache, with a
//! soft lock and growing backoff (never a permanent lockout). Counters are atomic increments, so
//! they are exact under concurrent attempts and across nodes. When the cache is unreachable a
//! stricter per-node limiter takes over: never "unlimited".

use crate::clock::SharedClock;
use crate::store::cache::{Cache, CacheKey};
use crate::tenancy::OrgId;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

/// Failures are counted over this window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures allowed per account (per window) before backoff starts.
pub const ACCOUNT_FREE_FAILURES: i64 = 5;
/// Failures allowed per client IP (per window) before backoff starts.
pub const IP_FREE_FAILURES: i64 = 50;
/// The per-node fallback is stricter: it cannot see other nodes' counts.
pub const LOCAL_ACCOUNT_FREE_FAILURES: i64 = 3;
pub const LOCAL_IP_FREE_FAILURES: i64 = 20;
/// The longest lock a run of failures can earn.
pub const MAX_BACKOFF_SECS: i64 = WINDOW_SECS;

/// 1 s after the first failure over the limit, doubling with each further one, capped.
pub fn backoff(failures_over_limit: i64) -> Duration {
    let exp = failures_over_limit.clamp(1, 31) - 1;
    Duration::seconds((1_i64 << exp).min(MAX_BACKOFF_SECS))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

#[derive(Debug, Default)]
struct LocalEntry {
    failures: i64,
    window_start: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Throttle {
    cache: Cache,
    clock: SharedClock,
    local: Arc<Mutex<HashMap<String, LocalEntry>>>,
}

enum Subject<'a> {
    Account(&'a str),
    Ip(&'a str),
}

impl Subject<'_> {
    fn name(&self) -> String {
        match self {
            Self::Account(email) => format!("acct:{email}"),
            Self::Ip(ip) => format!("ip:{ip}"),
        }
    }

    fn free(&self, local: bool) -> i64 {
        match (self, local) {
            (Self::Account(_), false) => ACCOUNT_FREE_FAILURES,
            (Self::Ip(_), false) => IP_FREE_FAILURES,
            (Self::Account(_), true) => LOCAL_ACCOUNT_FREE_FAILURES,
            (Self::Ip(_), true) => LOCAL_IP_FREE_FAILURES,
        }
    }
}

fn window() -> StdDuration {
    StdDuration::from_secs(WINDOW_SECS as u64)
}

impl Throttle {
    pub fn new(cache: Cache, clock: SharedClock) -> Self {
        Self {
            cache,
            clock,
            local: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalEntry>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_key(org: OrgId, s: &Subject<'_>) -> CacheKey {
        CacheKey::org(org, "login-lock", &s.name())
    }

    fn count_key(org: OrgId, s: &Subject<'_>) -> CacheKey {
        CacheKey::org(org, "login-failures", &s.name())
    }

    /// Refuses while the account or the client IP is in backoff (shared or local lock).
    pub async fn check(&self, org: OrgId, email: &str, ip: &str) -> Result<(), Throttled> {
        let now = self.clock.now();
        let mut longest: Option<Duration> = None;
        for s in [Subject::Account(email), Subject::Ip(ip)] {
            let shared = self
                .cache
                .get_json::<DateTime<Utc>>(&Self::lock_key(org, &s))
                .await;
            let local = self
                .local()
                .get(&format!("{org}:{}", s.name()))
                .and_then(|e| e.locked_until);
            for until in [shared, local].into_iter().flatten() {
                if until > now {
                    let left = until - now;
                    longest = Some(longest.map_or(left, |l| l.max(left)));
                }
            }
        }
        match longest {
            Some(retry_after) => Err(Throttled { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against the account and the IP, locking either once it is over
    /// its limit.
    pub async fn record_failure(&self, org: OrgId, email: &str, ip: &str) {
        let now = self.clock.now();
        for s in [Subject::Account(email), Subject::Ip(ip)] {
            match self.cache.incr(&Self::count_key(org, &s), window()).await {
                Ok(failures) => {
                    let over = failures - s.free(false);
                    if over > 0 {
                        let backoff = backoff(over);
                        let ttl = StdDuration::from_secs(
                            u64::try_from(backoff.num_seconds()).unwrap_or(1) + 1,
                        );
                        self.cache
                            .set_json(&Self::lock_key(org, &s), &(now + backoff), ttl)
                            .await;
                    }
                }
                Err(_) => self.record_local(org, &s, now),
            }
        }
    }

    fn record_local(&self, org: OrgId, s: &Subject<'_>, now: DateTime<Utc>) {
        let mut local = self.local();
        // Keep the map bounded: drop entries whose window and lock have both passed.
        if local.len() > 10_000 {
            local.retain(|_, e| {
                e.window_start
                    .is_some_and(|w| now - w < Duration::seconds(WINDOW_SECS))
                    || e.locked_until.is_some_and(|u| u > now)
            });
        }
        let entry = local.entry(format!("{org}:{}", s.name())).or_default();
        if entry
            .window_start
            .is_none_or(|w| now - w >= Duration::seconds(WINDOW_SECS))
        {
            entry.window_start = Some(now);
            entry.failures = 0;
        }
        entry.failures += 1;
        let over = entry.failures - s.free(true);
        if over > 0 {
            entry.locked_until = Some(now + backoff(over));
        }
    }

    /// A successful sign-in clears the account's failures (not the IP's).
    pub async fn reset_account(&self, org: OrgId, email: &str) {
        let s = Subject::Account(email);
        self.cache.delete(&Self::count_key(org, &s)).await;
        self.cache.delete(&Self::lock_key(org, &s)).await;
        self.local().remove(&format!("{org}:{}", s.name()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(1));
        assert_eq!(backoff(2), Duration::seconds(2));
        assert_eq!(backoff(5), Duration::seconds(16));
        assert_eq!(backoff(45), Duration::seconds(MAX_BACKOFF_SECS));
    }
}
