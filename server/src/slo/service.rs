//! The delivery worker: claims due outbox rows with a short lease (renewed while the attempt
//! runs, the attempt counted when claimed), POSTs a fresh logout token to each app's
//! back-channel URI in parallel with a per-request timeout (at most `PER_APP_IN_FLIGHT` per app
//! at once, so a slow app cannot hold the others up), and records each outcome the moment its
//! request completes: 2xx is delivered; 4xx other than 429 fails for good; 429, 5xx, timeouts and refused connections are
//! retried with exponential backoff and jitter up to `logout.max_attempts`. Requests go through
//! the one outbound client (`crate::outbound`): a target that is not allowed fails at once with
//! the same generic error whatever is (or is not) listening there.

use super::model::{Attempt, LogoutDelivery, TestLogout, TestLogoutError};
use crate::apps::App;
use crate::apps::AppId;
use crate::clock::SharedClock;
use crate::config::LogoutConfig;
use crate::keys::KeyService;
use crate::outbound::{NOT_ALLOWED, OutboundClient, OutboundError};
use crate::sessions::{EndReason, SessionId, SessionService};
use crate::store::Store;
use crate::tenancy::Org;
use crate::worker::{Backoff, run_every};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;
use tokio::task::JoinSet;
use uuid::Uuid;

/// The `events` member of a logout token (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens are valid this long (the issue asks for at most 2 minutes).
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// Attempts one worker has in flight at most.
const MAX_IN_FLIGHT: usize = 100;
/// Attempts in flight per app at most, on one worker: a slow app holds at most this many of
/// the worker's slots, and the others' rows are claimed and sent meanwhile.
pub const PER_APP_IN_FLIGHT: usize = 4;
/// A claimed row's lease. The worker renews it while the attempt runs (every third of it), so
/// it only needs to outlast a stalled renewal; a crashed node's rows are due again this soon.
pub const DELIVERY_LEASE_SECS: i64 = 20;

/// An RP-initiated logout request (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EndSessionParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub ui_locales: Option<String>,
}

/// What the end-session endpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSessionDecision {
    /// A valid hint: the session it names is over (it may have been already). `redirect` is the
    /// registered post-logout URI with `state`, when one was asked for.
    SignedOut {
        sid: SessionId,
        redirect: Option<String>,
    },
    /// No valid hint, or a URI that is not registered: ask the user, never redirect there.
    Confirm,
}

#[derive(Debug, serde::Deserialize)]
struct HintClaims {
    iss: String,
    sid: Option<String>,
    aud: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct SloService {
    sessions: SessionService,
    store: Store,
    keys: KeyService,
    clock: SharedClock,
    config: LogoutConfig,
    public_url: String,
    /// The one outbound client (private targets refused, no redirects).
    http: OutboundClient,
    /// 2xx answers whose outcome could not be written (see `unrecorded_deliveries`).
    unrecorded: Arc<AtomicU64>,
    /// Delivery outcomes by app (`crate::metrics`).
    metrics: crate::metrics::Metrics,
    /// SAML apps' LogoutRequests (`saml::slo`), signed with the org's SAML key.
    saml: crate::saml::SamlService,
}

/// The retry backoff `logout.retry_base_secs` and `logout.retry_max_secs` set (with jitter).
fn backoff(config: &LogoutConfig) -> Backoff {
    Backoff {
        base_secs: config.retry_base_secs,
        max_secs: config.retry_max_secs,
    }
}

impl SloService {
    pub fn new(
        sessions: SessionService,
        store: Store,
        keys: KeyService,
        clock: SharedClock,
        config: LogoutConfig,
        public_url: String,
        http: OutboundClient,
    ) -> Self {
        Self {
            sessions,
            store,
            saml: crate::saml::SamlService::new(keys.clone(), public_url.clone()),
            keys,
            clock,
            config,
            public_url,
            http,
            unrecorded: Arc::new(AtomicU64::new(0)),
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Counts delivery outcomes into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// RP-initiated logout. A valid `id_token_hint` is one this org signed (any published key,
    /// expired or not; never `alg: none`) for this issuer, naming a session; with `client_id`,
    /// the hint must be for that app. The post-logout URI must be registered for the app,
    /// byte for byte.
    pub async fn end_session(
        &self,
        org: &Org,
        p: &EndSessionParams,
    ) -> Result<EndSessionDecision, crate::sessions::SessionError> {
        let Some(hint) = p.id_token_hint.as_deref().filter(|h| h.len() < 8192) else {
            return Ok(EndSessionDecision::Confirm);
        };
        let Ok(claims) = self
            .keys
            .verify_allow_expired::<HintClaims>(org.id, hint, "JWT")
            .await
        else {
            return Ok(EndSessionDecision::Confirm);
        };
        if claims.iss != org.issuer(&self.public_url) {
            return Ok(EndSessionDecision::Confirm);
        }
        let audiences: Vec<String> = match &claims.aud {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let client_id = match &p.client_id {
            Some(c) if audiences.contains(c) => c.clone(),
            Some(_) => return Ok(EndSessionDecision::Confirm),
            None => match audiences.first() {
                Some(a) => a.clone(),
                None => return Ok(EndSessionDecision::Confirm),
            },
        };
        let Some(sid) = claims
            .sid
            .as_deref()
            .and_then(|s| s.parse::<Uuid>().ok())
            .map(SessionId)
        else {
            return Ok(EndSessionDecision::Confirm);
        };
        let redirect = match p.post_logout_redirect_uri.as_deref() {
            None => None,
            Some(uri) => {
                let app = self.store.app_by_client_id(org.id, &client_id).await?;
                let registered = app.is_some_and(|a| {
                    a.post_logout_redirect_uris
                        .iter()
                        .any(|r| r.as_str() == uri)
                });
                if !registered {
                    return Ok(EndSessionDecision::Confirm);
                }
                let Ok(mut url) = url::Url::parse(uri) else {
                    return Ok(EndSessionDecision::Confirm);
                };
                if let Some(state) = &p.state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url.to_string())
            }
        };
        match self
            .sessions
            .end(org.id, sid, EndReason::Logout, &format!("app:{client_id}"))
            .await
        {
            Ok(_) | Err(crate::sessions::SessionError::NotFound) => {}
            Err(e) => return Err(e),
        }
        Ok(EndSessionDecision::SignedOut { sid, redirect })
    }

    /// Makes an undelivered delivery due now (a failed one gets another round of attempts);
    /// false when the org has no such undelivered delivery.
    pub async fn retry_delivery(
        &self,
        org: &Org,
        id: Uuid,
        actor: &str,
    ) -> Result<bool, crate::store::StoreError> {
        let now = self.clock.now();
        self.store
            .retry_logout_delivery(org.id, id, actor, now)
            .await
    }

    /// The front-channel logout URLs of the apps that took part in the session (Front-Channel
    /// Logout 1.0 §3: with `iss` and `sid`).
    pub async fn frontchannel_urls(
        &self,
        org: &Org,
        sid: SessionId,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let issuer = org.issuer(&self.public_url);
        Ok(self
            .store
            .apps_in_session(org.id, sid)
            .await?
            .into_iter()
            .filter_map(|a| a.frontchannel_logout_uri)
            .filter_map(|u| url::Url::parse(u.as_str()).ok())
            .map(|mut u| {
                u.query_pairs_mut()
                    .append_pair("iss", &issuer)
                    .append_pair("sid", &sid.to_string());
                u.to_string()
            })
            .collect())
    }

    /// A fresh logout token for one delivery (new `jti` and `iat` on every try).
    pub async fn logout_token(
        &self,
        org: &Org,
        app: &App,
        d: &LogoutDelivery,
    ) -> Result<String, String> {
        self.sign_logout_token(
            org,
            app,
            Some(&d.user_id.to_string()),
            &d.session_id.to_string(),
        )
        .await
    }

    /// A signed logout token for `app` naming `sid` (and `sub` when given), with a new `jti`
    /// and `iat`.
    async fn sign_logout_token(
        &self,
        org: &Org,
        app: &App,
        sub: Option<&str>,
        sid: &str,
    ) -> Result<String, String> {
        let now = self.clock.now().timestamp();
        let mut claims = serde_json::json!({
            "iss": org.issuer(&self.public_url),
            "aud": app.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL_SECS,
            "jti": Uuid::new_v4().to_string(),
            "sid": sid,
            "events": { LOGOUT_EVENT: {} },
        });
        if let Some(sub) = sub {
            claims["sub"] = sub.into();
        }
        self.keys
            .sign(org.id, "logout+jwt", &claims)
            .await
            .map(|(t, _)| t)
            .map_err(|e| e.to_string())
    }

    /// Sends the app one logout token now, outside the outbox (no row, no retry), so an admin
    /// can see that its back-channel receiver works: the token is a real one, signed like every
    /// other, for a `sid` that names no session (a receiver finds nothing to end). The answer
    /// is what the receiver said, with the same generic error as deliveries for targets the
    /// deployment may not reach. Audited.
    pub async fn send_test_logout(
        &self,
        org: &Org,
        app: &App,
        actor: &str,
    ) -> Result<TestLogout, TestLogoutError> {
        let uri = app
            .backchannel_logout_uri
            .clone()
            .ok_or(TestLogoutError::NoUri)?;
        let sid = Uuid::new_v4();
        let token = self
            .sign_logout_token(org, app, None, &sid.to_string())
            .await
            .map_err(TestLogoutError::Failure)?;
        let sent = self
            .http
            .post_form(uri.as_str(), &[("logout_token", token.as_str())])
            .await;
        let outcome = match sent {
            Ok(res) => TestLogout {
                sid: sid.to_string(),
                delivered: res.status().is_success(),
                http_status: Some(res.status().as_u16()),
                error: (!res.status().is_success())
                    .then(|| format!("HTTP {}", res.status().as_u16())),
            },
            Err(e) => TestLogout {
                sid: sid.to_string(),
                delivered: false,
                http_status: None,
                error: Some(match e {
                    OutboundError::NotAllowed => NOT_ALLOWED.to_owned(),
                    other => other.to_string(),
                }),
            },
        };
        let event = crate::audit::AuditEvent {
            org_id: org.id,
            actor: actor.to_owned(),
            action: "app.test_logout_sent",
            target: Some(app.id.to_string()),
            details: serde_json::json!({
                "client_id": app.client_id,
                "sid": outcome.sid,
                "delivered": outcome.delivered,
                "http_status": outcome.http_status,
            }),
        };
        if let Err(e) = self.store.record_audit(&event, self.clock.now()).await {
            tracing::warn!(error = %e, "test logout: audit event not recorded");
        }
        Ok(outcome)
    }

    /// One delivery, in a span of its own: with trace export on, the back-channel POST
    /// carries its `traceparent`.
    #[tracing::instrument(name = "logout delivery", skip_all, fields(org = %d.org_id.0))]
    async fn attempt(&self, d: &LogoutDelivery) -> Attempt {
        let org = match self.store.org_by_id(d.org_id).await {
            Ok(Some(org)) => org,
            Ok(None) => return Attempt::Permanent("the org no longer exists".into()),
            Err(e) => return Attempt::Retry(format!("database: {e}")),
        };
        let app = match self.store.app_by_id(d.org_id, d.app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return Attempt::Permanent("the app no longer exists".into()),
            Err(e) => return Attempt::Retry(format!("database: {e}")),
        };
        if app.saml.is_some() {
            let now = self.clock.now();
            let on = (&org, &app);
            return crate::saml::slo::soap_attempt(&self.saml, &self.store, &self.http, on, d, now)
                .await;
        }
        let Some(uri) = app.backchannel_logout_uri.clone() else {
            return Attempt::Permanent("the app no longer has a back-channel logout URI".into());
        };
        let token = match self.logout_token(&org, &app, d).await {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(format!("signing: {e}")),
        };
        // No redirects are followed (a logout URI is registered exactly; following one would
        // send the token elsewhere), and non-public targets are refused when connecting unless
        // the operator allowed them (`outbound.allow_private`).
        let sent = self
            .http
            .post_form(uri.as_str(), &[("logout_token", token.as_str())])
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Attempt::Delivered,
            Ok(res) => {
                let status = res.status();
                let text = format!("HTTP {}", status.as_u16());
                if status.as_u16() == 429 || status.is_server_error() {
                    Attempt::Retry(text)
                } else {
                    // 4xx: the app refuses this token; a redirect: the URI is wrong. Retrying
                    // would not change either.
                    Attempt::Permanent(text)
                }
            }
            // One generic error whatever lies behind a refused target, and no retry: the
            // outcome must not tell an org admin what listens on the deployment's network.
            Err(OutboundError::NotAllowed) => Attempt::Permanent(NOT_ALLOWED.into()),
            Err(e @ OutboundError::InvalidUrl) => Attempt::Permanent(e.to_string()),
            Err(e) => Attempt::Retry(e.to_string()),
        }
    }

    /// One attempt at a claimed row, recorded the moment it completes (not after the others of
    /// its pass): 2xx is delivered; the rest is retried or failed as `attempt` says. An outcome
    /// that cannot be written is counted (`unrecorded_deliveries` for a 2xx: that receiver may
    /// get the notice again once the lease runs out) and logged.
    async fn deliver(self, d: LogoutDelivery, token: Uuid) {
        let outcome = self.attempt(&d).await;
        let done_at = self.clock.now();
        // Counted when the row was claimed for this attempt.
        let attempt_no = d.attempts;
        let (error, next): (Option<&str>, Option<DateTime<Utc>>) = match &outcome {
            Attempt::Delivered => (None, None),
            Attempt::Permanent(e) => (Some(e.as_str()), None),
            Attempt::Retry(e) if attempt_no >= self.config.max_attempts => (Some(e.as_str()), None),
            Attempt::Retry(e) => (
                Some(e.as_str()),
                Some(done_at + backoff(&self.config).delay(attempt_no)),
            ),
        };
        match outcome {
            Attempt::Delivered => {
                tracing::info!(delivery = %d.id, app = %d.app_id, sid = %d.session_id, "back-channel logout delivered");
            }
            _ => {
                tracing::warn!(delivery = %d.id, app = %d.app_id, attempt = attempt_no, error = error.unwrap_or(""), retry = next.is_some(), "back-channel logout not delivered");
            }
        }
        let delivered = error.is_none();
        let counted = match (delivered, next.is_some()) {
            (true, _) => "delivered",
            (false, true) => "retry",
            (false, false) => "failed",
        };
        self.count_outcome(&d, counted).await;
        match self
            .store
            .finish_logout_delivery(&d, token, error, next, done_at)
            .await
        {
            Ok(true) => {}
            // The lease ran out and another worker took the row (and will try it again) or
            // finished it: its outcome stands.
            Ok(false) => {
                tracing::debug!(delivery = %d.id, delivered, "outcome not recorded: the row is no longer this worker's");
            }
            Err(e) if delivered => {
                let total = self.unrecorded.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(delivery = %d.id, app = %d.app_id, error = %e, unrecorded_total = total, "back-channel logout delivered but not recorded; the app may get it again");
            }
            Err(e) => {
                tracing::warn!(delivery = %d.id, app = %d.app_id, error = %e, "back-channel logout outcome not recorded; the row is retried after its lease");
            }
        }
    }

    /// Counts an attempt's outcome by the app's client id (looked up only with metrics on;
    /// the app id when the app is gone).
    async fn count_outcome(&self, d: &LogoutDelivery, outcome: &'static str) {
        if !self.metrics.is_on() {
            return;
        }
        let app = match self.store.app_by_id(d.org_id, d.app_id).await {
            Ok(Some(app)) => app.client_id,
            _ => d.app_id.to_string(),
        };
        self.metrics.logout_delivery(&app, outcome);
    }

    /// How many 2xx answers this node could not record (each may be followed by a second POST
    /// of the same notice, with a new `jti`, once the row's lease runs out).
    pub fn unrecorded_deliveries(&self) -> u64 {
        self.unrecorded.load(Ordering::Relaxed)
    }

    /// Claims due rows for the room `flight` has (in all, and per app) and starts an attempt for
    /// each. Returns how many were started.
    async fn claim_into(&self, flight: &mut Flight) -> Result<usize, crate::store::StoreError> {
        let room = MAX_IN_FLIGHT.saturating_sub(flight.tasks.len());
        if room == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        let due = self
            .store
            .due_logout_deliveries(now, PER_APP_IN_FLIGHT, room + flight.tasks.len())
            .await?;
        let mut per_app = flight.per_app.clone();
        let mut ids = Vec::new();
        for (id, app) in due {
            if ids.len() == room || flight.rows.contains_key(&id) {
                continue;
            }
            let held = per_app.entry(app).or_insert(0);
            if *held < PER_APP_IN_FLIGHT {
                *held += 1;
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Ok(0);
        }
        let token = Uuid::new_v4();
        let rows = self
            .store
            .claim_logout_deliveries(
                &ids,
                now,
                now + Duration::seconds(DELIVERY_LEASE_SECS),
                token,
            )
            .await?;
        let started = rows.len();
        for d in rows {
            *flight.per_app.entry(d.app_id).or_insert(0) += 1;
            flight.rows.insert(d.id, (d.app_id, token));
            flight.leases.entry(token).or_insert(now);
            let row = d.id;
            let task = flight.tasks.spawn(self.clone().deliver(d, token));
            flight.tasks_rows.insert(task.id(), row);
        }
        Ok(started)
    }

    /// Extends the leases of the rows in flight once a third of the lease has passed since the
    /// last renewal, so a lease can be short (a crashed node's rows come back soon) while a
    /// slow attempt keeps its row.
    async fn renew(&self, flight: &mut Flight) {
        let now = self.clock.now();
        let due: Vec<Uuid> = flight
            .leases
            .iter()
            .filter(|(_, at)| now - **at >= Duration::seconds(DELIVERY_LEASE_SECS / 3))
            .map(|(token, _)| *token)
            .collect();
        for token in due {
            let ids: Vec<Uuid> = flight
                .rows
                .iter()
                .filter(|(_, (_, t))| *t == token)
                .map(|(id, _)| *id)
                .collect();
            match self
                .store
                .renew_logout_claims(&ids, token, now + Duration::seconds(DELIVERY_LEASE_SECS))
                .await
            {
                Ok(n) => {
                    if n < ids.len() as u64 {
                        tracing::debug!(
                            held = ids.len(),
                            renewed = n,
                            "some logout delivery leases were lost or finished"
                        );
                    }
                    flight.leases.insert(token, now);
                }
                Err(e) => tracing::warn!(error = %e, "logout delivery leases not renewed"),
            }
        }
    }

    /// One worker pass, as tests drive it: claims due rows (at most `PER_APP_IN_FLIGHT` of an
    /// app at a time, topping up as attempts finish), records each outcome as it completes,
    /// and returns once nothing more is due and every attempt has finished. Returns how many
    /// attempts were made.
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        let mut flight = Flight::default();
        let mut made = 0;
        let mut renewals = renewal_interval();
        loop {
            made += self.claim_into(&mut flight).await?;
            if flight.tasks.is_empty() {
                return Ok(made);
            }
            tokio::select! {
                done = flight.tasks.join_next_with_id() => {
                    if let Some(done) = done {
                        flight.finished(done);
                    }
                }
                _ = renewals.tick() => self.renew(&mut flight).await,
            }
        }
    }

    /// Runs the worker forever (spawned by `serve`): every `logout.worker_interval_ms` it renews
    /// its leases and claims due rows for its free slots, without waiting for the attempts in
    /// flight (a slow app holds at most `PER_APP_IN_FLIGHT` of them); each attempt records its
    /// own outcome (the worker notes the finished ones at its next tick). Dropping the worker
    /// (its task aborted, the node stopped) drops its attempts; their rows come back when their
    /// lease ends.
    pub async fn run_worker(self) {
        let every = StdDuration::from_millis(self.config.worker_interval_ms.max(50));
        let state = (self, Flight::default());
        run_every(every, state, |(slo, mut flight)| async move {
            flight.reap();
            slo.renew(&mut flight).await;
            if let Err(e) = slo.claim_into(&mut flight).await {
                tracing::warn!(error = %e, "logout delivery pass failed");
            }
            (slo, flight)
        })
        .await
    }
}

/// How often `run_once` checks its leases while attempts run (real time; `run_worker` checks
/// on every tick).
fn renewal_interval() -> tokio::time::Interval {
    let mut every = tokio::time::interval(StdDuration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every
}

/// The attempts one worker has in flight: each runs in its own task (aborted with the worker)
/// and records its own outcome; the worker keeps count per app and renews their leases.
#[derive(Default)]
struct Flight {
    tasks: JoinSet<()>,
    /// Which row each task attempts.
    tasks_rows: HashMap<tokio::task::Id, Uuid>,
    /// Rows in flight: their app and claim token.
    rows: HashMap<Uuid, (AppId, Uuid)>,
    per_app: HashMap<AppId, usize>,
    /// Claim tokens with rows in flight, and when their leases were last set.
    leases: HashMap<Uuid, DateTime<Utc>>,
}

impl Flight {
    /// Bookkeeping for the attempts that finished since the last look.
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.finished(done);
        }
    }

    /// Bookkeeping for a finished (or panicked) attempt.
    fn finished(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let task = match &done {
            Ok((id, ())) => *id,
            Err(e) => {
                tracing::warn!(error = %e, "a logout delivery attempt did not finish");
                e.id()
            }
        };
        let Some(row) = self.tasks_rows.remove(&task) else {
            return;
        };
        let Some((app, token)) = self.rows.remove(&row) else {
            return;
        };
        if let Some(n) = self.per_app.get_mut(&app) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_app.remove(&app);
            }
        }
        if !self.rows.values().any(|(_, t)| *t == token) {
            self.leases.remove(&token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_the_configured_one() {
        let c = LogoutConfig {
            delivery_timeout_ms: 5000,
            max_attempts: 8,
            retry_base_secs: 2,
            retry_max_secs: 60,
            worker_interval_ms: 1000,
        };
        assert_eq!(
            backoff(&c),
            Backoff {
                base_secs: 2,
                max_secs: 60
            }
        );
    }
}
