//! Fixed-window rate limits (e.g. WebAuthn ceremony starts per client IP). Reserve, then
//! check: each event takes its slot with the cache's atomic increment and is refused once over
//! the limit, so parallel requests get no extra slots. Windows are buckets of the injected
//! clock (tests move a fixed clock instead of sleeping). While the cache is unreachable, each
//! node counts on its own with a stricter limit: never "unlimited".

use crate::clock::SharedClock;
use crate::store::cache::{Cache, CacheKey};
use crate::tenancy::OrgId;
use chrono::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

/// The address a per-IP limit counts under: an IPv4 address as it is, an IPv6 address by its
/// /64 (one subscriber usually holds a whole /64, so counting each /128 would hand one client
/// billions of budgets).
pub fn limit_subject(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

/// One kind of limited event.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Names the counters (`o:{org}:{kind}:{id}:{bucket}`).
    pub kind: &'static str,
    /// Events allowed per window, counted in the shared cache.
    pub per_window: i64,
    /// Events allowed per window and node while the cache is unreachable.
    pub local_per_window: i64,
    pub window_secs: i64,
}

/// Refused: over the limit until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// Largest number of per-node counters kept while the cache is down (older windows go first).
const LOCAL_MAX: usize = 10_000;

#[derive(Debug, Clone)]
pub struct RateLimiter {
    cache: Cache,
    clock: SharedClock,
    /// Per-node counts while the shared cache is unreachable.
    local: Arc<Mutex<LocalCounts>>,
}

/// Per-node counters: key (which names its window's bucket) → (end of the window, count).
#[derive(Debug, Default)]
struct LocalCounts {
    map: HashMap<String, (i64, i64)>,
    /// When ended windows were last dropped: at most once a second, so a map full of live
    /// counters is not rescanned on every request.
    pruned_at: i64,
}

/// A stricter per-node limit for while the cache is away: a third of `per_window`, at least
/// one unless the limit is zero.
pub const fn local_share(per_window: i64) -> i64 {
    let third = per_window / 3;
    if third > 0 {
        third
    } else if per_window > 0 {
        1
    } else {
        0
    }
}

impl RateLimiter {
    pub fn new(cache: Cache, clock: SharedClock) -> Self {
        Self {
            cache,
            clock,
            local: Arc::new(Mutex::new(LocalCounts::default())),
        }
    }

    /// Counts one event of `limit` for `id` in `org`; `Err` once over the limit.
    pub async fn hit(&self, org: OrgId, limit: &Limit, id: &str) -> Result<(), Limited> {
        let window = limit.window_secs.max(1);
        let now = self.clock.now().timestamp();
        let bucket = now.div_euclid(window);
        let retry_after = Duration::seconds((bucket + 1) * window - now);
        let key = CacheKey::org(org, limit.kind, &format!("{id}:{bucket}"));
        let ttl = StdDuration::from_secs(u64::try_from(window).unwrap_or(60));
        let (count, allowed) = match self.cache.incr(&key, ttl).await {
            Ok(n) => (n, limit.per_window),
            Err(_) => {
                let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
                if local.map.len() >= LOCAL_MAX && local.pruned_at != now {
                    local.pruned_at = now;
                    local.map.retain(|_, (ends, _)| *ends > now);
                }
                let ends = (bucket + 1) * window;
                if local.map.len() >= LOCAL_MAX && !local.map.contains_key(key.as_str()) {
                    // Full of live counters: refuse rather than forget one.
                    return Err(Limited { retry_after });
                }
                let entry = local
                    .map
                    .entry(key.as_str().to_owned())
                    .or_insert((ends, 0));
                entry.1 += 1;
                (entry.1, limit.local_per_window)
            }
        };
        if count <= allowed {
            Ok(())
        } else {
            Err(Limited { retry_after })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_local_share_of_a_limit_is_never_more_than_the_limit() {
        assert_eq!(super::local_share(0), 0);
        assert_eq!(super::local_share(1), 1);
        assert_eq!(super::local_share(2), 1);
        assert_eq!(super::local_share(30), 10);
    }

    #[test]
    fn per_ip_limits_count_ipv6_by_its_64() {
        assert_eq!(limit_subject("203.0.113.5"), "203.0.113.5");
        assert_eq!(limit_subject("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            limit_subject("2001:db8:1:2:ffff::9"),
            limit_subject("2001:db8:1:2:aaaa::1")
        );
        assert_eq!(limit_subject("::ffff:203.0.113.5"), "203.0.113.5");
        assert_eq!(limit_subject("unknown"), "unknown");
    }

    use super::*;
    use crate::clock::FixedClock;

    const LIMIT: Limit = Limit {
        kind: "test",
        per_window: 3,
        local_per_window: 1,
        window_secs: 60,
    };

    #[tokio::test]
    async fn counts_per_id_and_window() {
        let clock = Arc::new(FixedClock::at_epoch());
        let limiter = RateLimiter::new(Cache::in_process(clock.clone()), clock.clone());
        let org = OrgId(uuid::Uuid::nil());
        for _ in 0..3 {
            limiter.hit(org, &LIMIT, "a").await.unwrap();
        }
        let refused = limiter.hit(org, &LIMIT, "a").await.unwrap_err();
        assert_eq!(refused.retry_after, Duration::seconds(60));
        limiter.hit(org, &LIMIT, "b").await.unwrap();
        clock.advance(Duration::seconds(60));
        limiter.hit(org, &LIMIT, "a").await.unwrap();
    }
}
