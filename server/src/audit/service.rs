//! `AuditSinkService`: an org's audit sink (its settings, the secret sealed with the key
//! encryption key) and the worker that streams the org's audit events to it.
//!
//! The worker claims due sinks with a lease and a claim token (the outboxes' one claim,
//! `store/outbox.rs`), so one node at a time delivers an org's events. For each it takes the
//! next batch (`Store::next_audit_batch`: at most `BATCH_MAX` events past the cursor, numbered
//! after commit in the order they became visible), POSTs it through the outbound client with an
//! HMAC-SHA256 signature of the body, and records the outcome under its claim: a 2xx moves the
//! cursor, anything else keeps the batch and retries it with `worker::Backoff`. Every failure
//! is retried (a sink never skips an event); the status shows the last error. A 2xx whose
//! recording is lost (a crash, a lease taken over) is followed by the same batch again — same
//! batch id, same sequence numbers — so receivers drop what they already have by sequence.
//! Deliveries write no audit events of their own (each would be an event to deliver).

use super::AuditEvent;
use super::sink::{AuditSink, BatchBody, SinkBatch, SinkOutcome, SinkSettings};
use crate::apps::AppUri;
use crate::clock::SharedClock;
use crate::keys::{KeyError, KeyService};
use crate::outbound::{NOT_ALLOWED, OutboundClient, OutboundError};
use crate::store::{Store, StoreError};
use crate::tenancy::OrgId;
use crate::worker::{Backoff, run_every};
use chrono::Duration;
use std::net::IpAddr;
use std::time::Duration as StdDuration;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Events in one batch at most.
pub const BATCH_MAX: u64 = 100;
/// A claimed sink's lease; each delivered batch extends it, and one request takes at most the
/// outbound client's timeout (`SINK_TIMEOUT`), well inside it.
const SINK_LEASE_SECS: i64 = 60;
/// The timeout of one POST to a sink (connect and answer).
pub const SINK_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// Batches sent for one org under one claim before it is given back (other nodes' turn).
const BATCHES_PER_CLAIM: usize = 10;
/// Orgs one worker delivers to at once.
const MAX_IN_FLIGHT: usize = 32;
/// How often the worker looks for due sinks.
const WORKER_INTERVAL: StdDuration = StdDuration::from_secs(1);
/// Retries after 2 s, doubling up to 5 minutes (with jitter).
const BACKOFF: Backoff = Backoff {
    base_secs: 2,
    max_secs: 300,
};
/// The HMAC secret's length in bytes: at least 16 (128 bits), at most 256.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// Why a sink could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum AuditSinkError {
    /// A setting that is not acceptable, by field (`url`, `secret`).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AuditSinkError {
    AuditSinkError::Invalid {
        field,
        message: message.into(),
    }
}

/// A sink with how many events it has still to deliver.
#[derive(Debug, Clone)]
pub struct AuditSinkStatus {
    pub sink: AuditSink,
    pub pending: u64,
}

/// The org's audit sink settings and its delivery worker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditSinkService {
    store: Store,
    keys: KeyService,
    clock: SharedClock,
    /// The one outbound client (private targets refused, no redirects).
    http: OutboundClient,
    /// `security.danger_allow_plain_http`: plain http to any host, as for app URIs.
    allow_plain_http: bool,
    /// Batch outcomes (`crate::metrics`).
    metrics: crate::metrics::Metrics,
}

/// The associated data a sink's secret is sealed with: its org and use.
fn secret_label(org: OrgId) -> String {
    format!("{}:audit-sink", org.0)
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`: the `X-Portcullis-Signature` header.
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl AuditSinkService {
    pub fn new(
        store: Store,
        keys: KeyService,
        clock: SharedClock,
        http: OutboundClient,
        allow_plain_http: bool,
    ) -> Self {
        Self {
            store,
            keys,
            clock,
            http,
            allow_plain_http,
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Counts batch outcomes into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// A sink URL: the rules of a back-channel logout URI (https; http for loopback hosts and
    /// for addresses in `outbound.allow_private`), and an IP-literal host the outbound policy
    /// refuses is refused now rather than at every delivery. Names are checked after DNS
    /// resolution at each connection (`crate::outbound`).
    fn parse_url(&self, raw: &str) -> Result<String, AuditSinkError> {
        let policy = self.http.policy();
        let uri = AppUri::parse_backchannel(raw.trim(), self.allow_plain_http, |ip| {
            policy.explicitly_allowed(ip)
        })
        .map_err(|e| invalid("url", e.reason))?;
        let literal: Option<IpAddr> =
            url::Url::parse(uri.as_str())
                .ok()
                .and_then(|u| match u.host() {
                    Some(url::Host::Ipv4(ip)) => Some(ip.into()),
                    Some(url::Host::Ipv6(ip)) => Some(ip.into()),
                    _ => None,
                });
        if literal.is_some_and(|ip| !policy.permits(ip)) {
            return Err(invalid("url", NOT_ALLOWED));
        }
        Ok(uri.as_str().to_owned())
    }

    /// The org's sink and its delivery status, if it has one.
    pub async fn get(&self, org: OrgId) -> Result<Option<AuditSinkStatus>, AuditSinkError> {
        let Some(sink) = self.store.audit_sink(org).await? else {
            return Ok(None);
        };
        let pending = self.store.audit_sink_pending(&sink).await?;
        Ok(Some(AuditSinkStatus { sink, pending }))
    }

    /// Creates or changes the org's sink. A new sink needs a secret; a change without one keeps
    /// the stored secret. The audit event names the URL and whether the secret changed, never
    /// the secret.
    pub async fn put(
        &self,
        org: OrgId,
        url: &str,
        secret: Option<&str>,
        enabled: bool,
        actor: &str,
    ) -> Result<AuditSinkStatus, AuditSinkError> {
        let url = self.parse_url(url)?;
        let sealed_secret = match secret {
            Some(s) if !SECRET_LEN.contains(&s.len()) => {
                return Err(invalid("secret", "must be 16 to 256 bytes long"));
            }
            Some(s) => Some(self.keys.seal_secret(&secret_label(org), s.as_bytes())?),
            None => None,
        };
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "audit_sink.configured",
            target: None,
            details: serde_json::json!({
                "url": url,
                "enabled": enabled,
                "secret_changed": sealed_secret.is_some(),
            }),
        };
        let settings = SinkSettings {
            url,
            sealed_secret,
            enabled,
        };
        let now = self.clock.now();
        let Some(sink) = self
            .store
            .put_audit_sink(org, settings, &event, now)
            .await?
        else {
            return Err(invalid("secret", "required when the sink is created"));
        };
        let pending = self.store.audit_sink_pending(&sink).await?;
        Ok(AuditSinkStatus { sink, pending })
    }

    /// Deletes the org's sink; false when it had none. Events stay in the audit trail.
    pub async fn delete(&self, org: OrgId, actor: &str) -> Result<bool, AuditSinkError> {
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "audit_sink.deleted",
            target: None,
            details: serde_json::json!({}),
        };
        Ok(self
            .store
            .delete_audit_sink(org, &event, self.clock.now())
            .await?)
    }

    /// Claims up to `room` due sinks under a fresh token.
    async fn claim(&self, room: usize) -> Result<(Uuid, Vec<OrgId>), StoreError> {
        let token = Uuid::now_v7();
        let now = self.clock.now();
        let orgs = self
            .store
            .claim_audit_sinks(
                now,
                now + Duration::seconds(SINK_LEASE_SECS),
                u64::try_from(room).unwrap_or(0),
                token,
            )
            .await?;
        Ok((token, orgs))
    }

    /// One worker pass, as tests drive it: claims every due sink, delivers to each (up to
    /// `BATCHES_PER_CLAIM` batches while they succeed) and returns once all are done, with the
    /// number of batches attempted.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let (token, orgs) = self.claim(MAX_IN_FLIGHT).await?;
        let mut flight = JoinSet::new();
        for org in orgs {
            flight.spawn(self.clone().deliver(org, token));
        }
        let mut made = 0;
        while let Some(done) = flight.join_next().await {
            made += done.unwrap_or(0);
        }
        Ok(made)
    }

    /// Runs the worker forever (spawned by `serve`): every second it notes finished deliveries
    /// and claims due sinks for its free slots, without waiting for deliveries in flight.
    pub async fn run_worker(self) {
        let state = (self, JoinSet::<usize>::new());
        run_every(WORKER_INTERVAL, state, |(svc, mut flight)| async move {
            while flight.try_join_next().is_some() {}
            let room = MAX_IN_FLIGHT.saturating_sub(flight.len());
            if room > 0 {
                match svc.claim(room).await {
                    Ok((token, orgs)) => {
                        for org in orgs {
                            flight.spawn(svc.clone().deliver(org, token));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "audit sink pass failed"),
                }
            }
            (svc, flight)
        })
        .await
    }

    /// Delivers the claimed org's batches in order, one at a time, until none is due, one
    /// fails, the claim is lost or `BATCHES_PER_CLAIM` went out; then gives the claim back
    /// (a failure has given it back, due after its backoff). Returns the batches attempted.
    async fn deliver(self, org: OrgId, token: Uuid) -> usize {
        let mut made = 0;
        while made < BATCHES_PER_CLAIM {
            let now = self.clock.now();
            let batch = match self
                .store
                .next_audit_batch(org, token, now, BATCH_MAX)
                .await
            {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(org = %org.0, error = %e, "audit sink: batch not read");
                    break;
                }
            };
            made += 1;
            let outcome = self.send(&batch).await;
            self.metrics.audit_sink_batch(match outcome {
                SinkOutcome::Delivered => "delivered",
                SinkOutcome::Failed { .. } => "retry",
            });
            let done_at = self.clock.now();
            let lease_until = done_at + Duration::seconds(SINK_LEASE_SECS);
            let recorded = self
                .store
                .finish_audit_batch(org, token, batch.batch_id, &outcome, done_at, lease_until)
                .await;
            match (&outcome, recorded) {
                (SinkOutcome::Delivered, Ok(true)) => {
                    tracing::debug!(org = %org.0, batch = %batch.batch_id, events = batch.events.len(), "audit batch delivered");
                }
                (SinkOutcome::Failed { error, .. }, Ok(true)) => {
                    tracing::warn!(org = %org.0, batch = %batch.batch_id, attempt = batch.attempts + 1, error = %error, "audit batch not delivered; retried later");
                    return made;
                }
                // The lease ran out and another worker holds the sink: it sends this batch
                // again (receivers drop what they have by sequence).
                (_, Ok(false)) => return made,
                (_, Err(e)) => {
                    tracing::warn!(org = %org.0, batch = %batch.batch_id, error = %e, "audit batch outcome not recorded; sent again after the lease");
                    return made;
                }
            }
        }
        if let Err(e) = self
            .store
            .release_audit_sink(org, token, self.clock.now())
            .await
        {
            tracing::warn!(org = %org.0, error = %e, "audit sink not released; due after its lease");
        }
        made
    }

    /// One POST of a batch: the JSON body, signed with the org's secret.
    async fn send(&self, batch: &SinkBatch) -> SinkOutcome {
        let now = self.clock.now();
        let failed = |error: String| SinkOutcome::Failed {
            error,
            next: now + BACKOFF.delay(batch.attempts + 1),
        };
        let secret = match self
            .keys
            .open_secret(&secret_label(batch.org_id), &batch.sealed_secret)
        {
            Ok(s) => s,
            Err(_) => {
                return failed("the sink's secret does not decrypt (keys.encryption_key?)".into());
            }
        };
        let body = BatchBody {
            org_id: batch.org_id.0,
            batch_id: batch.batch_id,
            sent_at: now.timestamp(),
            first_seq: batch.events.first().map_or(0, |e| e.seq),
            last_seq: batch.events.last().map_or(0, |e| e.seq),
            events: batch.events.clone(),
        };
        let bytes = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => return failed(format!("encoding: {e}")),
        };
        let headers = [
            ("x-portcullis-signature", sign_body(&secret, &bytes)),
            ("x-portcullis-timestamp", body.sent_at.to_string()),
            ("x-portcullis-batch-id", batch.batch_id.to_string()),
        ];
        match self.http.post_json(&batch.url, &headers, bytes).await {
            Ok(res) if res.status().is_success() => SinkOutcome::Delivered,
            Ok(res) => failed(format!("HTTP {}", res.status().as_u16())),
            // One generic error whatever lies behind a refused target.
            Err(OutboundError::NotAllowed) => failed(NOT_ALLOWED.into()),
            Err(e) => failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let sig = sign_body(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
