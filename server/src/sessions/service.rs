//! Session rules: start, look up (with idle and absolute expiry), coalesced activity updates,
//! ending with a reason, and the sweeper.
//!
//! The database is the truth. The cache holds a copy of each live session under
//! `o:{org}:session:{token_hash}`; ending a session writes the database first and then leaves a
//! tombstone there (`Cache::end_copy`), which no copy can overwrite: a reader that loaded the
//! session before the end cannot store it back afterwards, and copies are never written back
//! after a cache hit nor queued during an outage (see `store::cache`). A cache flush or restart
//! can neither log anybody out nor bring a session back.

use super::error::SessionError;
use super::model::{EndReason, NewSession, Session, SessionId, SessionPolicy, SessionToken};
use crate::accounts::UserId;
use crate::clock::SharedClock;
use crate::secrets::{random_token, sha256_hex};
use crate::store::Store;
use crate::store::cache::{Cache, CacheKey};
use crate::tenancy::OrgId;
use chrono::{DateTime, Duration, Utc};
use std::time::Duration as StdDuration;
use uuid::Uuid;

/// Activity moves the idle deadline in the database at most once per this many seconds per
/// session, so a busy user does not cost a write per request (the deadline is accurate to this).
pub const TOUCH_INTERVAL_SECS: i64 = 60;
/// Sessions ended per sweeper pass (the rest wait for the next pass); also the most finished
/// rows of each kind one pass deletes.
const SWEEP_BATCH: u64 = 500;
/// `sessions.retention_days` by default.
const DEFAULT_RETENTION_DAYS: i64 = 30;

#[derive(Debug, Clone)]
pub struct SessionService {
    store: Store,
    cache: Cache,
    clock: SharedClock,
    /// How long finished rows are kept before the sweeper deletes them.
    retention: chrono::Duration,
}

fn session_key(org: OrgId, token_hash: &str) -> CacheKey {
    CacheKey::org_copy(org, "session", token_hash)
}

/// A copy of a session by its id, for liveness checks that have no cookie (an app session's IdP
/// session). Tombstoned with the cookie's copy whenever the session ends (`forget`), fenced when
/// its authentication changes; trusted only to say "live": a copy that looks over sends the
/// caller to the database (a touch elsewhere may have moved its idle deadline).
fn session_id_key(org: OrgId, id: SessionId) -> CacheKey {
    CacheKey::org_copy(org, "session-id", &id.0.to_string())
}

/// A copy of a user's record, for the claims /userinfo returns (`OidcService::user_claims`).
/// Fenced by every change of what it holds (`SessionService::user_changed`: email, its
/// verification, status, deletion). Liveness never comes from it: a disabled or deleted user's
/// sessions, and with them their tokens, end in the same change.
pub(crate) fn user_copy_key(org: OrgId, user: UserId) -> CacheKey {
    CacheKey::org_copy(org, "user", &user.0.to_string())
}

/// How many distinct user agents of a user's earlier sessions the new-device check compares
/// (past it, a device not among them counts as new).
const MAX_AGENTS_COMPARED: u64 = 1_000;

fn policy_key(org: OrgId) -> CacheKey {
    CacheKey::org_copy(org, "session-policy", "current")
}

/// The idle deadline after activity at `at`. Remember-me sessions have no idle timeout: they
/// live for the remember-me lifetime.
fn idle_deadline(
    policy: &SessionPolicy,
    remember_me: bool,
    at: DateTime<Utc>,
    absolute: DateTime<Utc>,
) -> DateTime<Utc> {
    if remember_me {
        absolute
    } else {
        (at + policy.idle_timeout()).min(absolute)
    }
}

/// Why `session` is over at `now` under `policy`, if it is. The current policy applies at once:
/// a shortened timeout ends sessions that the stored deadlines would still allow.
fn expiry(policy: &SessionPolicy, s: &Session, now: DateTime<Utc>) -> Option<EndReason> {
    let absolute = s
        .absolute_expiry
        .min(s.created_at + policy.lifetime(s.remember_me));
    if now >= absolute {
        return Some(EndReason::AbsoluteExpired);
    }
    let idle = s.idle_deadline.min(idle_deadline(
        policy,
        s.remember_me,
        s.last_seen_at,
        absolute,
    ));
    (now >= idle).then_some(EndReason::IdleExpired)
}

fn cache_ttl(s: &Session, now: DateTime<Utc>) -> StdDuration {
    let left = (s.idle_deadline - now).num_seconds().clamp(1, 3600);
    StdDuration::from_secs(u64::try_from(left).unwrap_or(1))
}

impl SessionService {
    pub fn new(store: Store, cache: Cache, clock: SharedClock) -> Self {
        Self {
            store,
            cache,
            clock,
            retention: chrono::Duration::days(DEFAULT_RETENTION_DAYS),
        }
    }

    /// Keeps finished rows `days` days (`sessions.retention_days`) before the sweeper deletes
    /// them.
    pub fn with_retention_days(mut self, days: i64) -> Self {
        self.retention = chrono::Duration::days(days);
        self
    }

    fn policy_ttl(&self) -> StdDuration {
        self.cache.copy_ttl(StdDuration::from_secs(300))
    }

    /// The org's policy (defaults when none was set).
    pub async fn policy(&self, org: OrgId) -> Result<SessionPolicy, SessionError> {
        let key = policy_key(org);
        let (copy, seen) = self.cache.get_copy::<SessionPolicy>(&key).await;
        if let Some(p) = copy {
            return Ok(p);
        }
        let policy = self.store.session_policy(org).await?.unwrap_or_default();
        self.cache
            .store_copy(&key, seen, &policy, self.policy_ttl())
            .await;
        Ok(policy)
    }

    /// Stores a new policy; it applies to every session on every node from the next request.
    pub async fn set_policy(
        &self,
        org: OrgId,
        policy: SessionPolicy,
        actor: &str,
    ) -> Result<SessionPolicy, SessionError> {
        let policy = policy.validate()?;
        self.store
            .set_session_policy(org, policy, actor, self.clock.now())
            .await?;
        let key = policy_key(org);
        self.cache.fence_copy(&key).await;
        if let Err(err) = self.cache.publish_invalidation(&key).await {
            tracing::warn!(error = %err, "could not publish the policy invalidation");
        }
        Ok(policy)
    }

    /// Starts a session: a fresh 256-bit token (never one the browser offered), stored as a hash.
    pub async fn start(
        &self,
        org: OrgId,
        new: NewSession,
    ) -> Result<(Session, SessionToken), SessionError> {
        let policy = self.policy(org).await?;
        let remember_me = new.remember_me && policy.remember_me_allowed;
        let now = self.clock.now();
        let token = SessionToken(random_token(32)?);
        let absolute = now + policy.lifetime(remember_me);
        let session = Session {
            id: SessionId(Uuid::now_v7()),
            org_id: org,
            user_id: new.user_id,
            token_hash: sha256_hex(&token.0),
            created_at: now,
            last_seen_at: now,
            idle_deadline: idle_deadline(&policy, remember_me, now, absolute),
            absolute_expiry: absolute,
            remember_me,
            auth_time: now,
            password_at: new.password_at,
            webauthn_at: new.webauthn_at,
            user_agent: new.user_agent.map(|ua| ua.chars().take(512).collect()),
            ip: new.ip,
            ended_at: None,
            end_reason: None,
        };
        let notice = self.new_device_notice(&session).await?;
        self.store.insert_session(&session, notice.as_ref()).await?;
        self.cache
            .set_copy(
                &session_key(org, &session.token_hash),
                &session,
                self.cache.copy_ttl(cache_ttl(&session, now)),
            )
            .await;
        Ok((session, token))
    }

    /// The live session a cookie value stands for, if any. Ends it (with the reason) when a
    /// deadline has passed, and records activity at most once per `TOUCH_INTERVAL_SECS`.
    pub async fn current(&self, org: OrgId, token: &str) -> Result<Option<Session>, SessionError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(token);
        let key = session_key(org, &hash);
        let now = self.clock.now();
        let (copy, seen) = self.cache.get_copy::<Session>(&key).await;
        let (session, from_cache) = match copy {
            Some(s) if s.org_id == org => (s, true),
            _ => match self.store.session_by_token_hash(org, &hash).await? {
                Some(s) => (s, false),
                None => return Ok(None),
            },
        };
        if session.ended_at.is_some() {
            self.forget(std::slice::from_ref(&session)).await;
            return Ok(None);
        }
        let policy = self.policy(org).await?;
        if let Some(reason) = expiry(&policy, &session, now) {
            // Ended first by another request or node (the sweeper, say): not live either way.
            match self.end(org, session.id, reason, "system").await {
                Ok(_) | Err(SessionError::NotFound) => {}
                Err(e) => return Err(e),
            }
            return Ok(None);
        }
        let mut session = session;
        let mut touched = false;
        if now - session.last_seen_at >= Duration::seconds(TOUCH_INTERVAL_SECS) {
            session.last_seen_at = now;
            session.idle_deadline =
                idle_deadline(&policy, session.remember_me, now, session.absolute_expiry);
            if !self
                .store
                .touch_session(org, session.id, now, session.idle_deadline)
                .await?
            {
                // The database has ended it: whatever copy we read is stale (its tombstone was
                // lost, say with a node that stopped during an outage). Put one there now.
                self.forget(std::slice::from_ref(&session)).await;
                return Ok(None);
            }
            touched = true;
        }
        // Never written back after a plain hit. A copy read from the database is stored if
        // nothing ended or changed it since the miss; one just touched, unless it has ended or
        // changed since (a marker wins either way).
        let ttl = self.cache.copy_ttl(cache_ttl(&session, now));
        if !from_cache {
            self.cache.store_copy(&key, seen, &session, ttl).await;
        } else if touched {
            self.cache.set_copy(&key, &session, ttl).await;
        }
        Ok(Some(session))
    }

    /// Records a WebAuthn factor proven now on a live session (step-up).
    pub async fn record_webauthn(
        &self,
        org: OrgId,
        session: &Session,
        at: DateTime<Utc>,
    ) -> Result<Session, SessionError> {
        self.store
            .set_session_webauthn_at(org, session.id, at)
            .await?;
        self.cache
            .fence_copy(&session_key(org, &session.token_hash))
            .await;
        self.cache
            .fence_copy(&session_id_key(org, session.id))
            .await;
        Ok(Session {
            webauthn_at: Some(at),
            auth_time: at,
            ..session.clone()
        })
    }

    /// A sign-in from a device (browser and system) this user never signed in from before, when
    /// they have signed in before: the security notice to send with the new session.
    async fn new_device_notice(
        &self,
        s: &Session,
    ) -> Result<Option<crate::email::OutgoingEmail>, SessionError> {
        // A browser seen before is a known device: one indexed look-up, whatever the history.
        if self
            .store
            .user_has_session_agent(s.org_id, s.user_id, s.user_agent.as_deref())
            .await?
        {
            return Ok(None);
        }
        let device = crate::sessions::device_name(s.user_agent.as_deref());
        // Otherwise compare devices (a browser update changes the agent, not the device):
        // distinct agents only.
        let earlier = self
            .store
            .user_session_agents(s.org_id, s.user_id, MAX_AGENTS_COMPARED)
            .await?;
        if earlier.is_empty()
            || earlier
                .iter()
                .any(|ua| crate::sessions::device_name(ua.as_deref()) == device)
        {
            return Ok(None);
        }
        let (Some(org), Some(user)) = (
            self.store.org_by_id(s.org_id).await?,
            self.store.user_by_id(s.org_id, s.user_id).await?,
        ) else {
            return Ok(None);
        };
        Ok(Some(
            crate::email::notice(
                &self.store,
                &org,
                user.email.as_str(),
                "new sign-in",
                &format!(
                    "Your {} account was signed in from a new device: {device}, from {}.",
                    org.name,
                    s.ip.as_deref().unwrap_or("an unknown address")
                ),
            )
            .await?,
        ))
    }

    /// A live session by id (ended at once if its deadlines have passed), for checks that have
    /// no cookie: an app session that may not outlive its IdP session.
    pub async fn live(&self, org: OrgId, id: SessionId) -> Result<Option<Session>, SessionError> {
        let key = session_id_key(org, id);
        let now = self.clock.now();
        let (copy, seen) = self.cache.get_copy::<Session>(&key).await;
        if let Some(copy) = copy
            && copy.org_id == org
            && copy.id == id
            && copy.ended_at.is_none()
            && expiry(&self.policy(org).await?, &copy, now).is_none()
        {
            return Ok(Some(copy));
        }
        let Some(session) = self.store.session_by_id(org, id).await? else {
            return Ok(None);
        };
        if session.ended_at.is_some() {
            self.cache.end_copy(&key).await;
            return Ok(None);
        }
        let policy = self.policy(org).await?;
        if let Some(reason) = expiry(&policy, &session, now) {
            // Ended first by another request or node (the sweeper, say): not live either way.
            match self.end(org, session.id, reason, "system").await {
                Ok(_) | Err(SessionError::NotFound) => {}
                Err(e) => return Err(e),
            }
            return Ok(None);
        }
        // Stored unless it ended since (its tombstone wins); read again from the database at
        // least once per touch interval, so a lost tombstone is trusted no longer than that.
        let ttl = cache_ttl(&session, now).min(StdDuration::from_secs(
            u64::try_from(TOUCH_INTERVAL_SECS).unwrap_or(60),
        ));
        self.cache
            .store_copy(&key, seen, &session, self.cache.copy_ttl(ttl))
            .await;
        Ok(Some(session))
    }

    /// The signed-in user entered their password again: `auth_time` moves to now on the same
    /// session (same `sid` for every app), and the cookie gets a fresh value (no fixation).
    pub async fn reauthenticate(
        &self,
        org: OrgId,
        session: &Session,
    ) -> Result<(Session, SessionToken), SessionError> {
        self.reauthenticate_by(org, session, false).await
    }

    /// The signed-in user signed in again with a passkey alone: as `reauthenticate`, with the
    /// key as the one factor of this authentication (`webauthn_at` now, no password claimed).
    pub async fn reauthenticate_with_key(
        &self,
        org: OrgId,
        session: &Session,
    ) -> Result<(Session, SessionToken), SessionError> {
        self.reauthenticate_by(org, session, true).await
    }

    async fn reauthenticate_by(
        &self,
        org: OrgId,
        session: &Session,
        by_key: bool,
    ) -> Result<(Session, SessionToken), SessionError> {
        let now = self.clock.now();
        let token = SessionToken(random_token(32)?);
        let hash = sha256_hex(&token.0);
        if !self
            .store
            .reauthenticate_session(org, session.id, &hash, now, by_key)
            .await?
        {
            return Err(SessionError::NotFound);
        }
        // The old cookie value is dead for good; the copy by id holds the old authentication.
        self.cache
            .end_copy(&session_key(org, &session.token_hash))
            .await;
        self.cache
            .fence_copy(&session_id_key(org, session.id))
            .await;
        let (password_at, webauthn_at) = if by_key {
            (None, Some(now))
        } else {
            (Some(now), session.webauthn_at)
        };
        let session = Session {
            token_hash: hash,
            auth_time: now,
            password_at,
            webauthn_at,
            last_seen_at: now,
            ..session.clone()
        };
        Ok((session, token))
    }

    /// A user's record changed or went: copies read before cannot be stored, readers read the
    /// database (see `user_copy_key`).
    pub async fn user_changed(&self, org: OrgId, user: UserId) {
        self.cache.fence_copy(&user_copy_key(org, user)).await;
    }

    /// Tombstones the cached copies of sessions ended in a store transaction of another service.
    pub async fn forget_ended(&self, ended: &[Session]) {
        self.forget(ended).await;
    }

    async fn forget(&self, ended: &[Session]) {
        for s in ended {
            self.cache
                .end_copy(&session_key(s.org_id, &s.token_hash))
                .await;
            self.cache.end_copy(&session_id_key(s.org_id, s.id)).await;
        }
    }

    /// Ends one session of the org with a reason; `NotFound` if it is not live.
    pub async fn end(
        &self,
        org: OrgId,
        id: SessionId,
        reason: EndReason,
        actor: &str,
    ) -> Result<Session, SessionError> {
        let ended = self
            .store
            .end_session(org, id, reason, actor, self.clock.now())
            .await?;
        let Some(ended) = ended else {
            // Not live. If it ended earlier, make sure no copy of it is trusted any more (its
            // tombstone may have been lost): ending twice is harmless.
            if let Some(s) = self.store.session_by_id(org, id).await?
                && s.ended_at.is_some()
            {
                self.forget(std::slice::from_ref(&s)).await;
            }
            return Err(SessionError::NotFound);
        };
        self.forget(std::slice::from_ref(&ended)).await;
        tracing::info!(org = %org, session = %id, reason = reason.as_str(), "session ended");
        Ok(ended)
    }

    /// Ends one of the user's own sessions (the account page); other users' sessions are not
    /// found.
    pub async fn end_own(
        &self,
        org: OrgId,
        user: UserId,
        id: SessionId,
        reason: EndReason,
    ) -> Result<Session, SessionError> {
        match self.store.session_by_id(org, id).await? {
            Some(s) if s.user_id == user => {
                self.end(org, id, reason, &format!("user:{user}")).await
            }
            _ => Err(SessionError::NotFound),
        }
    }

    /// Ends every live session of a user except `keep`; returns how many ended.
    pub async fn end_user_sessions(
        &self,
        org: OrgId,
        user: UserId,
        keep: Option<SessionId>,
        reason: EndReason,
        actor: &str,
    ) -> Result<usize, SessionError> {
        let ended = self
            .store
            .end_sessions(org, Some(user), keep, reason, actor, self.clock.now())
            .await?;
        self.forget(&ended).await;
        Ok(ended.len())
    }

    /// Ends every live session of an org (the org was disabled).
    pub async fn end_org_sessions(
        &self,
        org: OrgId,
        reason: EndReason,
        actor: &str,
    ) -> Result<usize, SessionError> {
        let ended = self
            .store
            .end_sessions(org, None, None, reason, actor, self.clock.now())
            .await?;
        self.forget(&ended).await;
        Ok(ended.len())
    }

    /// A user's live sessions, newest first.
    pub async fn list(&self, org: OrgId, user: UserId) -> Result<Vec<Session>, SessionError> {
        Ok(self.store.user_sessions(org, user, false).await?)
    }

    /// One sweeper pass: ends live sessions whose stored deadline has passed, with the matching
    /// reason, and deletes expired single-use values (codes, ceremonies, pending steps) and
    /// device grants (both already refused by their expiry). Returns how many sessions it ended.
    pub async fn sweep(&self) -> Result<usize, SessionError> {
        let now = self.clock.now();
        let overdue = self.store.overdue_sessions(now, SWEEP_BATCH).await?;
        let mut ended = 0;
        for s in overdue {
            let reason = if now >= s.absolute_expiry {
                EndReason::AbsoluteExpired
            } else {
                EndReason::IdleExpired
            };
            match self.end(s.org_id, s.id, reason, "system").await {
                Ok(_) => ended += 1,
                // Another node or request ended it first.
                Err(SessionError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let swept = self.store.sweep_single_use(now).await?;
        if swept > 0 {
            tracing::debug!(swept, "sweeper deleted expired single-use values");
        }
        let devices = self.store.sweep_device_grants(now).await?;
        if devices > 0 {
            tracing::debug!(devices, "sweeper deleted expired device grants");
        }
        self.purge(now).await?;
        Ok(ended)
    }

    /// Deletes finished rows past the retention (at most a batch of each kind per pass).
    pub async fn purge(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::store::Purged, SessionError> {
        let purged = self
            .store
            .purge_finished(now - self.retention, SWEEP_BATCH)
            .await?;
        if purged.total() > 0 {
            tracing::info!(
                ?purged,
                "sweeper deleted finished rows past their retention"
            );
        }
        Ok(purged)
    }

    /// Runs `sweep` forever at the given interval (spawned by `serve`).
    pub async fn run_sweeper(self, every: StdDuration) {
        crate::worker::run_every(every, self, |sessions| async move {
            match sessions.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "session sweeper ended overdue sessions"),
                Err(err) => tracing::warn!(error = %err, "session sweeper pass failed"),
            }
            sessions
        })
        .await
    }
}
