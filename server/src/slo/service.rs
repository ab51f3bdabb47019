//! The delivery worker: claims due outbox rows, POSTs a fresh logout token to each app's
//! back-channel URI in parallel with a per-request timeout, and records the outcome: 2xx is
//! delivered; 4xx other than 429 fails for good; 429, 5xx, timeouts and refused connections are
//! retried with exponential backoff and jitter up to `logout.max_attempts`. Requests go through
//! the one outbound client (`crate::outbound`): a target that is not allowed fails at once with
//! the same generic error whatever is (or is not) listening there.

use super::model::{Attempt, LogoutDelivery};
use crate::apps::App;
use crate::clock::SharedClock;
use crate::config::LogoutConfig;
use crate::keys::KeyService;
use crate::outbound::{NOT_ALLOWED, OutboundClient, OutboundError};
use crate::sessions::{EndReason, SessionId, SessionService};
use crate::store::Store;
use crate::tenancy::Org;
use chrono::{DateTime, Duration, Utc};
use std::time::Duration as StdDuration;
use uuid::Uuid;

/// The `events` member of a logout token (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens are valid this long (the issue asks for at most 2 minutes).
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// Rows taken per worker pass.
const CLAIM_BATCH: u64 = 100;

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
}

/// The delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, plus up to
/// 25 % jitter so a recovering app is not hit by every node at once.
fn backoff(config: &LogoutConfig, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let base = config
        .retry_base_secs
        .saturating_mul(1_i64 << exp)
        .min(config.retry_max_secs)
        .max(1);
    let jitter_ms = base * 250 * i64::from(rand_u8()) / 255;
    Duration::seconds(base) + Duration::milliseconds(jitter_ms)
}

fn rand_u8() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    b[0]
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
            keys,
            clock,
            config,
            public_url,
            http,
        }
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
        let now = self.clock.now().timestamp();
        let claims = serde_json::json!({
            "iss": org.issuer(&self.public_url),
            "sub": d.user_id.to_string(),
            "aud": app.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL_SECS,
            "jti": Uuid::new_v4().to_string(),
            "sid": d.session_id.to_string(),
            "events": { LOGOUT_EVENT: {} },
        });
        self.keys
            .sign(org.id, "logout+jwt", &claims)
            .await
            .map(|(t, _)| t)
            .map_err(|e| e.to_string())
    }

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

    /// One worker pass: claims the due rows and delivers them in parallel. Returns how many
    /// rows were attempted.
    pub async fn run_once(&self) -> Result<usize, crate::store::StoreError> {
        let now = self.clock.now();
        // The lease outlasts the longest attempt, so another worker never takes a row in flight.
        let lease =
            now + Duration::milliseconds(
                i64::try_from(self.config.delivery_timeout_ms).unwrap_or(5000) * 3,
            ) + Duration::seconds(30);
        let rows = self
            .store
            .claim_logout_deliveries(now, lease, CLAIM_BATCH)
            .await?;
        let attempts = rows
            .iter()
            .map(|d| async move { (d, self.attempt(d).await) });
        let outcomes = futures_util::future::join_all(attempts).await;
        let done_at = self.clock.now();
        for (d, outcome) in &outcomes {
            let attempt_no = d.attempts + 1;
            let (error, next): (Option<&str>, Option<DateTime<Utc>>) = match outcome {
                Attempt::Delivered => (None, None),
                Attempt::Permanent(e) => (Some(e.as_str()), None),
                Attempt::Retry(e) if attempt_no >= self.config.max_attempts => {
                    (Some(e.as_str()), None)
                }
                Attempt::Retry(e) => (
                    Some(e.as_str()),
                    Some(done_at + backoff(&self.config, attempt_no)),
                ),
            };
            match outcome {
                Attempt::Delivered => {
                    tracing::info!(delivery = %d.id, app = %d.app_id, sid = %d.session_id, "back-channel logout delivered")
                }
                _ => {
                    tracing::warn!(delivery = %d.id, app = %d.app_id, attempt = attempt_no, error = error.unwrap_or(""), retry = next.is_some(), "back-channel logout not delivered")
                }
            }
            self.store
                .finish_logout_delivery(d, error, next, done_at)
                .await?;
        }
        Ok(outcomes.len())
    }

    /// Runs the worker forever (spawned by `serve`): a pass every `logout.worker_interval_ms`.
    pub async fn run_worker(self) {
        let mut tick = tokio::time::interval(StdDuration::from_millis(
            self.config.worker_interval_ms.max(50),
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "logout delivery pass failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let c = LogoutConfig {
            delivery_timeout_ms: 5000,
            max_attempts: 8,
            retry_base_secs: 2,
            retry_max_secs: 60,
            worker_interval_ms: 1000,
        };
        for (attempt, base) in [(1, 2), (2, 4), (3, 8), (6, 60), (20, 60)] {
            let d = backoff(&c, attempt);
            assert!(d >= Duration::seconds(base), "{attempt}: {d}");
            assert!(d <= Duration::milliseconds(base * 1250), "{attempt}: {d}");
        }
    }
}
