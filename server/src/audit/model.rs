//! Audit event types.

use crate::tenancy::OrgId;

/// One thing that happened in an org, recorded in the same transaction as the change itself.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub org_id: OrgId,
    /// Who did it: `cli`, `system`, or later `user:{id}` / `app:{client_id}`.
    pub actor: String,
    /// What happened, dotted: `org.created`, `user.created`, `app.created`.
    pub action: &'static str,
    /// The id of what it happened to.
    pub target: Option<String>,
    /// Extra facts; never secrets.
    pub details: serde_json::Value,
}

/// An audit event as stored (for the admin API).
#[derive(Debug, Clone)]
pub struct StoredAuditEvent {
    pub id: uuid::Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}
