//! Audit trail: an append-only record of changes per org, written by the store in the same
//! transaction as the change.

mod model;

pub use model::{AuditEvent, StoredAuditEvent};
