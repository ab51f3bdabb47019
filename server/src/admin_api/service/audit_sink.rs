//! The org's audit sink: its settings (never its secret) and delivery status.

use super::*;
use crate::admin_api::ApiError;
use crate::audit::{AuditSinkError, AuditSinkStatus};
use crate::state::AppState;
use crate::tenancy::Org;
use portcullis_api_types::{AuditSinkRequest, AuditSinkStatusView, AuditSinkView};

fn sink_view(s: AuditSinkStatus) -> AuditSinkView {
    let AuditSinkStatus { sink, pending } = s;
    AuditSinkView {
        url: sink.url,
        enabled: sink.enabled,
        secret_set: true,
        created_at: ts(sink.created_at),
        updated_at: ts(sink.updated_at),
        status: AuditSinkStatusView {
            delivered_seq: sink.delivered_seq,
            last_seq: sink.last_seq,
            pending,
            attempts: sink.attempts,
            last_attempt_at: sink.last_attempt_at.map(ts),
            last_success_at: sink.last_success_at.map(ts),
            last_error: sink.last_error,
            next_attempt_at: ts(sink.next_attempt_at),
        },
    }
}

fn sink_error(e: AuditSinkError) -> ApiError {
    match e {
        AuditSinkError::Invalid { field, message } => ApiError::field(field, message),
        other => ApiError::internal(other),
    }
}

fn no_sink() -> ApiError {
    ApiError::NotFound("this org has no audit sink".into())
}

pub async fn get_audit_sink(state: &AppState, org: &Org) -> Result<AuditSinkView, ApiError> {
    state
        .audit_sinks
        .get(org.id)
        .await
        .map_err(sink_error)?
        .map(sink_view)
        .ok_or_else(no_sink)
}

pub async fn put_audit_sink(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: AuditSinkRequest,
) -> Result<AuditSinkView, ApiError> {
    let secret = req.secret.as_deref().filter(|s| !s.is_empty());
    state
        .audit_sinks
        .put(org.id, &req.url, secret, req.enabled, &who.actor())
        .await
        .map(sink_view)
        .map_err(sink_error)
}

pub async fn delete_audit_sink(
    state: &AppState,
    org: &Org,
    who: &Principal,
) -> Result<(), ApiError> {
    if state
        .audit_sinks
        .delete(org.id, &who.actor())
        .await
        .map_err(sink_error)?
    {
        Ok(())
    } else {
        Err(no_sink())
    }
}
