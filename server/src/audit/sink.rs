//! An org's audit sink: where its audit events are streamed, and how far delivery has come.

use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The `status` of a sink whose worker delivers (the outbox's "pending" marker).
pub const SINK_ENABLED: &str = "enabled";
/// The `status` of a paused sink: nothing is sent; events wait and go out once it is enabled.
pub const SINK_DISABLED: &str = "disabled";

/// An org's audit sink as stored. The HMAC secret is only ever held sealed here; it is opened
/// by the worker to sign a batch and never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditSink {
    pub org_id: OrgId,
    pub url: String,
    pub(crate) sealed_secret: String,
    pub enabled: bool,
    /// Events written from this instant on are delivered (the sink's creation).
    pub deliver_from: DateTime<Utc>,
    /// The highest sequence number given to one of the org's events.
    pub last_seq: i64,
    /// The highest sequence number a receiver acknowledged with a 2xx (the cursor).
    pub delivered_seq: i64,
    /// The batch in delivery, `(delivered_seq, batch_end]`, resent as it is until a 2xx.
    pub batch_id: Option<Uuid>,
    pub batch_end: Option<i64>,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("org_id", &self.org_id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field("last_seq", &self.last_seq)
            .field("delivered_seq", &self.delivered_seq)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A sink's configuration as the admin sets it; `sealed_secret` `None` keeps the stored one.
#[derive(Clone)]
pub struct SinkSettings {
    pub url: String,
    pub sealed_secret: Option<String>,
    pub enabled: bool,
}

/// One audit event with its place in the org's sequence, as sent to the sink.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequencedEvent {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

/// A batch ready to send: the events `(first_seq - 1, last_seq]` of one org, in order.
#[derive(Clone)]
pub struct SinkBatch {
    pub org_id: OrgId,
    pub batch_id: Uuid,
    pub url: String,
    pub(crate) sealed_secret: String,
    /// Failed attempts at this batch so far.
    pub attempts: i32,
    pub events: Vec<SequencedEvent>,
}

/// The wire body of a batch (`POST` to the sink, signed whole).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BatchBody {
    pub org_id: Uuid,
    pub batch_id: Uuid,
    /// Unix seconds; the same value as the `X-Portcullis-Timestamp` header, signed with the body.
    pub sent_at: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: Vec<SequencedEvent>,
}

/// How one attempt at a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkOutcome {
    /// A 2xx: the cursor moves to the batch's end.
    Delivered,
    /// Anything else: the same batch is tried again after `next`.
    Failed { error: String, next: DateTime<Utc> },
}
