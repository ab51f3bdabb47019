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
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// What the pacer says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Serve it now.
    Now,
    /// Serve it after this wait (its turn at the client's pace).
    After(StdDuration),
    /// Refuse it: the client is further ahead of its pace than the longest wait.
    Refused(Limited),
}

/// Clients tracked by a pacer at most; past it, ones at rest are dropped (at most once a
/// second) and, if every one is active, a new client is served unpaced (open, unlike the
/// limiter's fallback: refusing would let one attacker with many IPv6 /64s refuse every new
/// sign-in). A flood from that many addresses is a reverse proxy's or a firewall's to stop.
const PACER_MAX: usize = 100_000;

/// Paces each client's anonymous requests on this node, like a reverse proxy's request limit
/// with a burst and delay (a generic cell rate algorithm): `burst` requests are served as they
/// come, then one per `1 / per_second`; a request ahead of its client's pace waits its turn
/// for at most `max_wait` and is refused past that. A held answer costs no CPU, so a client
/// that floods over a few connections is slowed to its pace instead of taking the CPU that
/// every other org's requests need. Decisions follow the injected clock.
#[derive(Debug, Clone)]
pub struct Pacer {
    clock: SharedClock,
    /// Time between two requests at the sustained pace; `None`: pacing is off.
    interval: Option<Duration>,
    /// How far ahead of its pace a client may be without waiting (`burst - 1` intervals).
    slack: Duration,
    max_wait: Duration,
    due: Arc<Mutex<PacerState>>,
    /// Requests held for their turn on this node right now (`Pacer::hold`).
    held: Arc<AtomicUsize>,
}

/// Requests a node holds for their turn at most, across clients: each keeps a connection
/// open, so past this a request ahead of its pace is refused at once instead.
const MAX_HELD: usize = 4_096;

/// One held request; the place is given back when it is dropped.
#[derive(Debug)]
pub struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct PacerState {
    /// Client → when its pace allows its next request without using the burst.
    next: HashMap<String, chrono::DateTime<chrono::Utc>>,
    pruned_at: i64,
}

impl Pacer {
    /// `per_second` 0 turns pacing off; `burst` is at least 1.
    pub fn new(clock: SharedClock, per_second: u32, burst: u32, max_wait: StdDuration) -> Self {
        let interval = (per_second > 0).then(|| {
            Duration::microseconds(1_000_000 / i64::from(per_second)).max(Duration::microseconds(1))
        });
        let slack = interval.map_or(Duration::zero(), |i| {
            i * (i32::try_from(burst.max(1)).unwrap_or(i32::MAX) - 1)
        });
        Self {
            clock,
            interval,
            slack,
            max_wait: Duration::from_std(max_wait).unwrap_or(Duration::zero()),
            due: Arc::default(),
            held: Arc::default(),
        }
    }

    /// A place to hold one request for its turn, unless the node holds `MAX_HELD` already.
    pub fn hold(&self) -> Option<Held> {
        let before = self.held.fetch_add(1, Ordering::SeqCst);
        let place = Held(self.held.clone());
        (before < MAX_HELD).then_some(place)
    }

    /// Takes `client`'s next turn, if it is near enough.
    pub fn admit(&self, client: &str) -> Pace {
        let Some(interval) = self.interval else {
            return Pace::Now;
        };
        let now = self.clock.now();
        let mut state = self.due.lock().unwrap_or_else(|p| p.into_inner());
        if state.next.len() >= PACER_MAX && !state.next.contains_key(client) {
            if state.pruned_at != now.timestamp() {
                state.pruned_at = now.timestamp();
                state.next.retain(|_, next| *next > now);
            }
            if state.next.len() >= PACER_MAX {
                return Pace::Now;
            }
        }
        let next = state.next.get(client).copied().unwrap_or(now).max(now);
        let wait = (next - self.slack - now).max(Duration::zero());
        if wait > self.max_wait {
            let over = wait - self.max_wait;
            let secs = over.num_seconds() + i64::from(over.subsec_nanos() > 0);
            return Pace::Refused(Limited {
                retry_after: Duration::seconds(secs.max(1)),
            });
        }
        state.next.insert(client.to_owned(), next + interval);
        match wait.to_std() {
            Ok(w) if !w.is_zero() => Pace::After(w),
            _ => Pace::Now,
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

    #[test]
    fn a_pacer_serves_the_burst_then_one_per_interval_then_refuses() {
        let clock = Arc::new(FixedClock::at_epoch());
        // 10 per second (one per 100 ms), a burst of 3, waits of at most 250 ms.
        let pacer = Pacer::new(clock.clone(), 10, 3, StdDuration::from_millis(250));
        for _ in 0..3 {
            assert_eq!(pacer.admit("a"), Pace::Now);
        }
        assert_eq!(pacer.admit("a"), Pace::After(StdDuration::from_millis(100)));
        assert_eq!(pacer.admit("a"), Pace::After(StdDuration::from_millis(200)));
        // The next turn is 300 ms away, past the longest wait: refused, and it takes no turn.
        assert_eq!(
            pacer.admit("a"),
            Pace::Refused(Limited {
                retry_after: Duration::seconds(1)
            })
        );
        assert!(matches!(pacer.admit("a"), Pace::Refused(_)));
        // Another client has its own pace.
        assert_eq!(pacer.admit("b"), Pace::Now);
        // Time moves on: the turns come back one per interval.
        clock.advance(Duration::milliseconds(100));
        assert_eq!(pacer.admit("a"), Pace::After(StdDuration::from_millis(200)));
        clock.advance(Duration::seconds(10));
        for _ in 0..3 {
            assert_eq!(pacer.admit("a"), Pace::Now);
        }
    }

    #[test]
    fn a_pacer_at_zero_per_second_is_off() {
        let clock = Arc::new(FixedClock::at_epoch());
        let pacer = Pacer::new(clock, 0, 1, StdDuration::ZERO);
        for _ in 0..1000 {
            assert_eq!(pacer.admit("a"), Pace::Now);
        }
    }

    #[test]
    fn a_pacer_holds_at_most_max_held_requests_at_once() {
        let clock = Arc::new(FixedClock::at_epoch());
        let pacer = Pacer::new(clock, 1, 1, StdDuration::from_secs(1));
        let held: Vec<Held> = (0..MAX_HELD).map(|_| pacer.hold().unwrap()).collect();
        assert!(pacer.hold().is_none());
        drop(held);
        assert!(pacer.hold().is_some());
    }
}
