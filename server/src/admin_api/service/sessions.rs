//! IdP sessions with their app sessions, revocations with their previews, logout deliveries.

use super::*;
use crate::accounts::UserId;
use crate::admin_api::ApiError;
use crate::apps::AppId;
use crate::oidc::AppSession;
use crate::state::AppState;

use crate::sessions::{EndReason, Session, SessionId};
use crate::slo::LogoutDelivery;
use crate::tenancy::Org;
use portcullis_api_types::{AppSessionView, DeliveryView, Page, RevokeOutcome, SessionView};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub(super) fn app_session_view(
    s: &AppSession,
    client_ids: &BTreeMap<Uuid, String>,
) -> AppSessionView {
    AppSessionView {
        id: s.id.to_string(),
        app_id: s.app_id.to_string(),
        client_id: client_ids.get(&s.app_id.0).cloned().unwrap_or_default(),
        created_at: ts(s.created_at),
        last_active_at: ts(s.last_active_at),
        idle_deadline: s.idle_deadline.map(ts),
        absolute_expiry: ts(s.absolute_expiry),
        outlives_idp_session: s.outlives_idp_session,
    }
}

/// The distinct ids among `ids`, in order, as `T` (for one `IN (...)` query per kind).
pub(super) fn distinct<T>(ids: impl Iterator<Item = Uuid>, wrap: fn(Uuid) -> T) -> Vec<T> {
    ids.collect::<BTreeSet<Uuid>>()
        .into_iter()
        .map(wrap)
        .collect()
}

/// Live IdP sessions with their live app sessions; `app` keeps the sessions that app takes part
/// in. The database pages the sessions; app sessions, client ids and emails are read for the
/// page's sessions only (one query each).
pub async fn list_sessions(
    state: &AppState,
    org: &Org,
    user: Option<&str>,
    app: Option<&str>,
    p: PageRequest,
) -> Result<Page<SessionView>, ApiError> {
    let user = user.map(|u| parse_id(u, "user").map(UserId)).transpose()?;
    let app = app.map(|a| parse_id(a, "app").map(AppId)).transpose()?;
    let (sessions, total) = state
        .store
        .live_sessions_page(org.id, user, app, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    let app_sessions = state
        .store
        .live_app_sessions_of(org.id, &ids)
        .await
        .map_err(ApiError::internal)?;
    let app_ids: Vec<AppId> = distinct(app_sessions.iter().map(|a| a.app_id.0), AppId);
    let client_ids = state
        .store
        .client_ids(org.id, &app_ids)
        .await
        .map_err(ApiError::internal)?;
    let user_ids: Vec<UserId> = distinct(sessions.iter().map(|s| s.user_id.0), UserId);
    let emails = state
        .store
        .user_emails(org.id, &user_ids)
        .await
        .map_err(ApiError::internal)?;
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let mine: Vec<&AppSession> = app_sessions
            .iter()
            .filter(|a| a.session_id == s.id)
            .collect();
        out.push(SessionView {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            user_email: emails.get(&s.user_id.0).cloned().unwrap_or_default(),
            created_at: ts(s.created_at),
            last_seen_at: ts(s.last_seen_at),
            auth_time: ts(s.auth_time),
            acr: s.acr().to_owned(),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            app_sessions: mine
                .into_iter()
                .map(|a| app_session_view(a, &client_ids))
                .collect(),
        });
    }
    Ok(p.with(out, total))
}

/// What ending `sessions` (and, for a user-wide revocation, every live app session of the
/// user) ends and whom it tells: the same rules as `store::slo::end_app_sessions`.
pub(super) async fn preview(
    state: &AppState,
    org: &Org,
    sessions: &[Session],
    user_wide: Option<UserId>,
) -> Result<RevokeOutcome, ApiError> {
    let mut app_sessions: Vec<AppSession> = Vec::new();
    match user_wide {
        Some(user) => {
            app_sessions = state
                .store
                .live_app_sessions(org.id, None, Some(user), None)
                .await
                .map_err(ApiError::internal)?;
        }
        None => {
            for s in sessions {
                app_sessions.extend(
                    state
                        .store
                        .live_app_sessions(org.id, Some(s.id), None, None)
                        .await
                        .map_err(ApiError::internal)?,
                );
            }
        }
    }
    let involved: Vec<AppId> = distinct(app_sessions.iter().map(|a| a.app_id.0), AppId);
    let mut notified = state
        .store
        .backchannel_client_ids(org.id, &involved)
        .await
        .map_err(ApiError::internal)?;
    notified.sort();
    Ok(RevokeOutcome {
        dry_run: true,
        sessions: sessions.iter().map(|s| s.id.to_string()).collect(),
        app_sessions: app_sessions.iter().map(|a| a.id.to_string()).collect(),
        apps_notified: notified,
    })
}

/// Revokes one IdP session (all its app sessions end; apps are told), or previews it.
pub async fn revoke_session(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    dry_run: bool,
) -> Result<RevokeOutcome, ApiError> {
    let sid = SessionId(parse_id(id, "session")?);
    let session = state
        .store
        .session_by_id(org.id, sid)
        .await
        .map_err(ApiError::internal)?
        .filter(|s| s.ended_at.is_none())
        .ok_or_else(|| ApiError::NotFound("no such live session".into()))?;
    let mut outcome = preview(state, org, std::slice::from_ref(&session), None).await?;
    if !dry_run {
        match state
            .sessions
            .end(org.id, sid, EndReason::AdminRevoked, &who.actor())
            .await
        {
            Ok(_) | Err(crate::sessions::SessionError::NotFound) => {}
            Err(e) => return Err(ApiError::internal(e)),
        }
        outcome.dry_run = false;
    }
    Ok(outcome)
}

/// Signs a user out everywhere (every IdP and app session; every app told), or previews it.
pub async fn sign_out_user(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    dry_run: bool,
) -> Result<RevokeOutcome, ApiError> {
    let user = UserId(parse_id(id, "user")?);
    if state
        .store
        .user_by_id(org.id, user)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::NotFound("no such user".into()));
    }
    let sessions = state
        .store
        .live_sessions(org.id, Some(user))
        .await
        .map_err(ApiError::internal)?;
    let mut outcome = preview(state, org, &sessions, Some(user)).await?;
    if !dry_run {
        state
            .sessions
            .end_user_sessions(org.id, user, None, EndReason::AdminRevoked, &who.actor())
            .await
            .map_err(ApiError::internal)?;
        outcome.dry_run = false;
    }
    Ok(outcome)
}

pub(super) fn delivery_view(
    d: &LogoutDelivery,
    client_ids: &BTreeMap<Uuid, String>,
) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        app_id: d.app_id.to_string(),
        client_id: client_ids.get(&d.app_id.0).cloned().unwrap_or_default(),
        session_id: d.session_id.to_string(),
        user_id: d.user_id.to_string(),
        reason: d.reason.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: ts(d.next_attempt_at),
        last_error: d.last_error.clone(),
        created_at: ts(d.created_at),
        delivered_at: d.delivered_at.map(ts),
    }
}

pub async fn list_deliveries(
    state: &AppState,
    org: &Org,
    status: Option<&str>,
    p: PageRequest,
) -> Result<Page<DeliveryView>, ApiError> {
    if let Some(s) = status
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return Err(ApiError::field("status", "pending, delivered or failed"));
    }
    let (deliveries, total) = state
        .store
        .logout_deliveries_page(org.id, status, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    let app_ids: Vec<AppId> = distinct(deliveries.iter().map(|d| d.app_id.0), AppId);
    let client_ids = state
        .store
        .client_ids(org.id, &app_ids)
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(
        deliveries
            .iter()
            .map(|d| delivery_view(d, &client_ids))
            .collect(),
        total,
    ))
}

pub async fn retry_delivery(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let id = parse_id(id, "delivery")?;
    let done = state
        .slo
        .retry_delivery(org, id, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    if done {
        Ok(())
    } else {
        Err(ApiError::NotFound("no such undelivered delivery".into()))
    }
}
