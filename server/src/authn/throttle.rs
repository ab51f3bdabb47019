//! Sign-in throttling: per-account and per-client-IP attempt counters in the shared cache, with
//! growing backoff (never a permanent lockout). When the cache is unreachable a stricter
//! per-node limiter takes over: never "unlimited".
//!
//! **Reserve, then check.** An attempt takes its slot with an atomic increment *before* the
//! password is verified, and is refused once it is over the limit, so parallel guesses get no
//! more checks than sequential ones. The rules, per subject (the typed email, known or not, so
//! unknown addresses are counted the same; and the client IP), over a window of `WINDOW_SECS`
//! (a bucket of the injected clock):
//!
//! - `used` = attempts reserved in the window − attempts given back. A sign-in that succeeds
//!   gives its slot back (to the account and to the IP), so only failures (and attempts still
//!   running) use the allowance; an infrastructure error gives the slot back too.
//! - While `used` ≤ the free allowance (`ACCOUNT_FREE_FAILURES`, `IP_FREE_FAILURES`) attempts
//!   go through.
//! - Past the allowance, one attempt per lock: the attempt takes the gate of the lock it saw
//!   (none yet, or one that has run out): an atomic increment on a key named after that lock,
//!   so of many parallel attempts exactly one gets it. The winner goes through and sets the
//!   next lock, `backoff(used − free)`: 1 s, 2 s, 4 s, … capped at `MAX_BACKOFF_SECS`. Attempts
//!   made while locked are refused without being counted; attempts that lose the gate are
//!   counted (a flood lengthens the backoff).
//! - So sequential failures get `free + 1` tries at once, then one after 1 s, 2 s, 4 s, …; and
//!   at any one instant at most `free + 1` attempts of a subject are checked, however many run
//!   in parallel.
//! - A successful sign-in also ends the account's backoff (its lock is moved to now).
//!
//! Keys live in the cache with the window as TTL and carry the clock's bucket, so a new window
//! starts afresh on every backend, and tests move a fixed clock instead of sleeping.

use crate::clock::SharedClock;
use crate::store::cache::{Cache, CacheKey};
use crate::tenancy::OrgId;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

/// Most per-node counters kept while the shared cache is unreachable.
const LOCAL_MAX_ENTRIES: usize = 10_000;
/// Attempts are counted over this window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failed (or running) attempts allowed per account per window before backoff starts.
pub const ACCOUNT_FREE_FAILURES: i64 = 5;
/// Failed (or running) attempts allowed per client IP per window before backoff starts.
pub const IP_FREE_FAILURES: i64 = 50;
/// The per-node fallback is stricter: it cannot see other nodes' counts.
pub const LOCAL_ACCOUNT_FREE_FAILURES: i64 = 3;
pub const LOCAL_IP_FREE_FAILURES: i64 = 20;
/// The longest lock a run of failures can earn.
pub const MAX_BACKOFF_SECS: i64 = WINDOW_SECS;

/// 1 s for the first step over the limit, doubling with each further one, capped.
pub fn backoff(steps_over_limit: i64) -> Duration {
    let exp = steps_over_limit.clamp(1, 31) - 1;
    Duration::seconds((1_i64 << exp).min(MAX_BACKOFF_SECS))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    /// A lock this very attempt set before it was refused (the IP's, when the account was
    /// already locked): refusals while a lock holds set none.
    pub new_lock: Option<NewLock>,
}

/// A lock an attempt just set: the event worth one audit row (the refusals while it holds
/// are not; one client could otherwise write a row per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLock {
    /// `account` or `ip`.
    pub subject: &'static str,
    pub until: DateTime<Utc>,
}

/// The slots one attempt holds; give them back with `Throttle::give_back` when the attempt
/// turns out not to be a failure.
#[derive(Debug, Clone)]
#[must_use = "a reservation is given back on success, or kept as a failure"]
pub struct Reservation {
    org: OrgId,
    account: String,
    ip: String,
    bucket: i64,
    /// Whether each subject was counted in the shared cache (else in the local fallback).
    account_shared: bool,
    ip_shared: bool,
    /// Locks this attempt set (it takes the gate and goes on; the next ones wait).
    new_locks: Vec<NewLock>,
}

impl Reservation {
    /// The locks this attempt set, for the audit.
    pub fn new_locks(&self) -> &[NewLock] {
        &self.new_locks
    }
}

/// A subject's lock: no attempt before `until`; `id` names its gate, fresh for every lock
/// written (two locks with the same time still have different gates).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Lock {
    until: DateTime<Utc>,
    id: uuid::Uuid,
}

#[derive(Debug, Default)]
struct LocalEntry {
    bucket: i64,
    attempts: i64,
    returned: i64,
    locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Throttle {
    cache: Cache,
    clock: SharedClock,
    local: Arc<Mutex<HashMap<String, LocalEntry>>>,
}

#[derive(Clone, Copy)]
enum Subject<'a> {
    Account(&'a str),
    Ip(&'a str),
}

impl Subject<'_> {
    fn name(&self) -> String {
        match self {
            Self::Account(email) => format!("acct:{email}"),
            Self::Ip(ip) => format!("ip:{}", crate::limits::limit_subject(ip)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Account(_) => "account",
            Self::Ip(_) => "ip",
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

fn bucket_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(WINDOW_SECS)
}

/// At least one second, rounded up: what `Retry-After` says.
fn at_least_a_second(d: Duration) -> Duration {
    let ms = d.num_milliseconds().max(1);
    Duration::seconds((ms + 999) / 1000)
}

/// What reserving one subject came to.
enum Taken {
    /// Counted in the shared cache.
    Shared,
    /// Counted per node (the cache is unreachable).
    Local,
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

    fn lock_key(org: OrgId, s: Subject<'_>) -> CacheKey {
        CacheKey::org(org, "login-lock", &s.name())
    }

    fn attempts_key(org: OrgId, s: Subject<'_>, bucket: i64) -> CacheKey {
        CacheKey::org(org, "login-attempts", &format!("{}:{bucket}", s.name()))
    }

    fn returned_key(org: OrgId, s: Subject<'_>, bucket: i64) -> CacheKey {
        CacheKey::org(org, "login-returned", &format!("{}:{bucket}", s.name()))
    }

    fn gate_key(org: OrgId, s: Subject<'_>, bucket: i64, lock: Option<Lock>) -> CacheKey {
        let lock = lock.map_or_else(|| "none".to_owned(), |l| l.id.simple().to_string());
        CacheKey::org(org, "login-gate", &format!("{}:{bucket}:{lock}", s.name()))
    }

    /// Takes one attempt's slot for the account and for the client IP, before the password is
    /// checked. The IP goes first, so an address already refused does not use up the slots of
    /// the accounts it aims at. Refused attempts hold nothing.
    pub async fn reserve(
        &self,
        org: OrgId,
        account: &str,
        ip: &str,
    ) -> Result<Reservation, Throttled> {
        let now = self.clock.now();
        let bucket = bucket_of(now);
        let (ip_taken, ip_lock) = self.take(org, Subject::Ip(ip), bucket, now).await?;
        let ip_shared = matches!(ip_taken, Taken::Shared);
        let (account_taken, account_lock) =
            match self.take(org, Subject::Account(account), bucket, now).await {
                Ok(t) => t,
                Err(t) => {
                    self.give_back_one(org, Subject::Ip(ip), bucket, ip_shared)
                        .await;
                    return Err(Throttled {
                        new_lock: t.new_lock.or(ip_lock),
                        ..t
                    });
                }
            };
        Ok(Reservation {
            org,
            account: account.to_owned(),
            ip: ip.to_owned(),
            bucket,
            account_shared: matches!(account_taken, Taken::Shared),
            ip_shared,
            new_locks: ip_lock.into_iter().chain(account_lock).collect(),
        })
    }

    /// One subject's slot: in the shared cache, or per node when the cache fails; with the
    /// lock this attempt set, if it set one.
    async fn take(
        &self,
        org: OrgId,
        s: Subject<'_>,
        bucket: i64,
        now: DateTime<Utc>,
    ) -> Result<(Taken, Option<NewLock>), Throttled> {
        let lock = self.cache.get_json::<Lock>(&Self::lock_key(org, s)).await;
        if let Some(l) = lock.filter(|l| l.until > now) {
            return Err(Throttled {
                retry_after: at_least_a_second(l.until - now),
                new_lock: None,
            });
        }
        let Ok(attempts) = self
            .cache
            .incr(&Self::attempts_key(org, s, bucket), window())
            .await
        else {
            return self
                .take_local(org, s, bucket, now)
                .map(|l| (Taken::Local, l));
        };
        let free = s.free(false);
        // Given-back slots only ever lower the count, so they are read only when it matters
        // (a stale read is the stricter one).
        let used = if attempts > free {
            attempts
                - self
                    .cache
                    .get_json::<i64>(&Self::returned_key(org, s, bucket))
                    .await
                    .unwrap_or(0)
        } else {
            attempts
        };
        if used <= free {
            return Ok((Taken::Shared, None));
        }
        // Over the allowance: one attempt per lock, whoever takes the lock's gate first.
        match self
            .cache
            .incr(&Self::gate_key(org, s, bucket, lock), window())
            .await
        {
            Ok(1) => {
                let until = now + backoff(used - free);
                self.set_lock(org, s, until).await;
                let new = NewLock {
                    subject: s.kind(),
                    until,
                };
                Ok((Taken::Shared, Some(new)))
            }
            Ok(_) => Err(Throttled {
                retry_after: backoff(used - free),
                new_lock: None,
            }),
            Err(_) => self
                .take_local(org, s, bucket, now)
                .map(|l| (Taken::Local, l)),
        }
    }

    async fn set_lock(&self, org: OrgId, s: Subject<'_>, until: DateTime<Utc>) {
        let lock = Lock {
            until,
            id: uuid::Uuid::now_v7(),
        };
        // Kept for two windows: the gate of a lock that has run out is named after it.
        self.cache
            .set_json(&Self::lock_key(org, s), &lock, window() * 2)
            .await;
    }

    fn take_local(
        &self,
        org: OrgId,
        s: Subject<'_>,
        bucket: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<NewLock>, Throttled> {
        let mut local = self.local();
        let name = format!("{org}:{}", s.name());
        // Keep the map bounded: drop entries whose window and lock have both passed; if it is
        // still full of live ones, refuse newcomers (stricter, never unlimited) rather than
        // scan the map again on every attempt.
        if local.len() >= LOCAL_MAX_ENTRIES && !local.contains_key(&name) {
            local.retain(|_, e| e.bucket >= bucket || e.locked_until.is_some_and(|u| u > now));
            if local.len() >= LOCAL_MAX_ENTRIES {
                return Err(Throttled {
                    retry_after: Duration::seconds(WINDOW_SECS),
                    new_lock: None,
                });
            }
        }
        let entry = local.entry(name).or_default();
        if let Some(until) = entry.locked_until.filter(|u| *u > now) {
            return Err(Throttled {
                retry_after: at_least_a_second(until - now),
                new_lock: None,
            });
        }
        if entry.bucket != bucket {
            entry.bucket = bucket;
            entry.attempts = 0;
            entry.returned = 0;
        }
        // Under the mutex: the count, the check and the lock are one step.
        entry.attempts += 1;
        let used = entry.attempts - entry.returned;
        let free = s.free(true);
        if used > free {
            let until = now + backoff(used - free);
            entry.locked_until = Some(until);
            return Ok(Some(NewLock {
                subject: s.kind(),
                until,
            }));
        }
        Ok(None)
    }

    async fn give_back_one(&self, org: OrgId, s: Subject<'_>, bucket: i64, shared: bool) {
        if shared {
            // Should the cache have gone away meanwhile, the slot stays taken: the stricter way.
            let _ = self
                .cache
                .incr(&Self::returned_key(org, s, bucket), window())
                .await;
            return;
        }
        let mut local = self.local();
        if let Some(entry) = local
            .get_mut(&format!("{org}:{}", s.name()))
            .filter(|e| e.bucket == bucket)
        {
            entry.returned = (entry.returned + 1).min(entry.attempts);
        }
    }

    /// The attempt was not a failure (an error on our side): its slots go back.
    pub async fn give_back(&self, r: Reservation) {
        self.give_back_one(
            r.org,
            Subject::Account(&r.account),
            r.bucket,
            r.account_shared,
        )
        .await;
        self.give_back_one(r.org, Subject::Ip(&r.ip), r.bucket, r.ip_shared)
            .await;
    }

    /// A successful sign-in: its slots go back, and the account's backoff ends (a lock until
    /// now replaces the lock, rather than none, so the next attempt has a fresh gate).
    pub async fn succeeded(&self, r: Reservation) {
        let now = self.clock.now();
        let account = Subject::Account(&r.account);
        if self
            .cache
            .get_json::<Lock>(&Self::lock_key(r.org, account))
            .await
            .is_some()
        {
            self.set_lock(r.org, account, now).await;
        }
        if let Some(entry) = self
            .local()
            .get_mut(&format!("{}:{}", r.org, account.name()))
        {
            entry.locked_until = None;
        }
        self.give_back(r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(1));
        assert_eq!(backoff(2), Duration::seconds(2));
        assert_eq!(backoff(5), Duration::seconds(16));
        assert_eq!(backoff(45), Duration::seconds(MAX_BACKOFF_SECS));
    }

    fn setup() -> (Throttle, Arc<FixedClock>, OrgId) {
        let clock = Arc::new(FixedClock::at_epoch());
        let cache = Cache::in_process(clock.clone());
        (
            Throttle::new(cache, clock.clone()),
            clock,
            OrgId(uuid::Uuid::nil()),
        )
    }

    #[tokio::test]
    async fn free_attempts_then_one_per_growing_backoff() {
        let (t, clock, org) = setup();
        for _ in 0..=ACCOUNT_FREE_FAILURES {
            let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        }
        // The first attempt over the allowance set a 1 s lock.
        let refused = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap_err();
        assert_eq!(refused.retry_after, Duration::seconds(1));
        clock.advance(Duration::seconds(1));
        let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        let refused = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap_err();
        assert_eq!(refused.retry_after, Duration::seconds(2));
        // Another account from the same IP is not affected.
        let _ = t.reserve(org, "b@x.test", "10.0.0.1").await.unwrap();
        // A new window starts afresh.
        clock.advance(Duration::seconds(WINDOW_SECS));
        for _ in 0..=ACCOUNT_FREE_FAILURES {
            let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        }
    }

    #[tokio::test]
    async fn each_lock_is_reported_once_by_the_attempt_that_set_it() {
        let (t, clock, org) = setup();
        let mut locks = Vec::new();
        let mut refusals = 0;
        for _ in 0..3 {
            for _ in 0..ACCOUNT_FREE_FAILURES + 20 {
                match t.reserve(org, "a@x.test", "10.0.0.1").await {
                    Ok(r) => locks.extend_from_slice(r.new_locks()),
                    Err(refused) => {
                        refusals += 1;
                        locks.extend(refused.new_lock);
                    }
                }
            }
            // The lock runs out: the next attempt sets the next one.
            clock.advance(Duration::seconds(MAX_BACKOFF_SECS / 2));
        }
        assert!(refusals >= 60, "{refusals}");
        let account: Vec<_> = locks.iter().filter(|l| l.subject == "account").collect();
        assert_eq!(account.len(), 3, "{locks:?}");
        assert!(account.windows(2).all(|w| w[0].until < w[1].until));
    }

    #[tokio::test]
    async fn success_gives_the_slot_back_and_ends_the_backoff() {
        let (t, clock, org) = setup();
        for _ in 0..ACCOUNT_FREE_FAILURES - 1 {
            let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        }
        // Successes use nothing up.
        for _ in 0..10 {
            let r = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
            t.succeeded(r).await;
        }
        let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        assert!(t.reserve(org, "a@x.test", "10.0.0.1").await.is_err());
        clock.advance(Duration::seconds(1));
        let r = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        t.succeeded(r).await;
        // No backoff right after a success, though the failures still count.
        let _ = t.reserve(org, "a@x.test", "10.0.0.1").await.unwrap();
        assert!(t.reserve(org, "a@x.test", "10.0.0.1").await.is_err());
    }

    #[tokio::test]
    async fn an_ip_refused_uses_up_no_account_slot() {
        let (t, _clock, org) = setup();
        for i in 0..=IP_FREE_FAILURES {
            let _ = t
                .reserve(org, &format!("u{i}@x.test"), "10.0.0.1")
                .await
                .unwrap();
        }
        for _ in 0..20 {
            assert!(t.reserve(org, "victim@x.test", "10.0.0.1").await.is_err());
        }
        for _ in 0..=ACCOUNT_FREE_FAILURES {
            let _ = t.reserve(org, "victim@x.test", "10.0.0.2").await.unwrap();
        }
    }

    #[tokio::test]
    async fn parallel_reservations_get_no_extra_slots() {
        let (t, _clock, org) = setup();
        let tries = (0..100).map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.reserve(org, "a@x.test", "10.0.0.1").await.is_ok() })
        });
        let mut admitted = 0;
        for x in tries {
            admitted += i64::from(x.await.unwrap());
        }
        assert!(admitted <= ACCOUNT_FREE_FAILURES + 1, "{admitted}");
        assert!(admitted >= ACCOUNT_FREE_FAILURES, "{admitted}");
    }
}
