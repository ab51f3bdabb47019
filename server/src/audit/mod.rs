//! Audit trail: an append-only record of changes per org, written by the store in the same
//! transaction as the change; and its streaming to an org's audit sink (`sink.rs`,
//! `service.rs`: batches of sequenced events POSTed with an HMAC signature through a leased
//! outbox row per org).

mod model;
mod service;
mod sink;

pub use model::{AuditEvent, StoredAuditEvent};
pub use service::{
    AuditSinkError, AuditSinkService, AuditSinkStatus, BATCH_MAX, SINK_TIMEOUT, sign_body,
};
pub use sink::{
    AuditSink, BatchBody, SINK_DISABLED, SINK_ENABLED, SequencedEvent, SinkBatch, SinkOutcome,
    SinkSettings,
};
