//! IdP sessions with their app sessions, revocations with their previews, logout deliveries.

use super::*;
use crate::accounts::UserId;
use crate::admin_api::ApiError;
use crate::apps::AppId;
use crate::oidc::{AppSession, AppSessionId};
use crate::state::AppState;

use crate::sessions::{EndReason, Session, SessionId};
use crate::slo::LogoutDelivery;
use crate::tenancy::Org;
use portcullis_api_types::{AppSessionView, DeliveryView, Page, RevokeOutcome, SessionView};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// An app session with its app's client id and name (`labels`, by app id) and its user's
/// email (`emails`, by user id).
pub(super) fn app_session_view(
    s: &AppSession,
    labels: &BTreeMap<Uuid, (String, String)>,
    emails: &BTreeMap<Uuid, String>,
) -> AppSessionView {
    let (client_id, app_name) = labels.get(&s.app_id.0).cloned().unwrap_or_default();
    AppSessionView {
        id: s.id.to_string(),
        app_id: s.app_id.to_string(),
        app_name,
        client_id,
        session_id: s.session_id.to_string(),
        user_id: s.user_id.to_string(),
        user_email: emails.get(&s.user_id.0).cloned().unwrap_or_default(),
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

/// Views of `sessions` (a page of them), each with its live app sessions: the app sessions,
/// their apps' client ids and names, and the users' emails are read for these sessions only
/// (one query each, whatever the page's size).
async fn session_views(
    state: &AppState,
    org: &Org,
    sessions: Vec<Session>,
) -> Result<Vec<SessionView>, ApiError> {
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    let app_sessions = state
        .store
        .live_app_sessions_of(org.id, &ids)
        .await
        .map_err(ApiError::internal)?;
    let app_ids: Vec<AppId> = distinct(app_sessions.iter().map(|a| a.app_id.0), AppId);
    let labels = state
        .store
        .app_labels(org.id, &app_ids)
        .await
        .map_err(ApiError::internal)?;
    let user_ids: Vec<UserId> = distinct(sessions.iter().map(|s| s.user_id.0), UserId);
    let emails = state
        .store
        .user_emails(org.id, &user_ids)
        .await
        .map_err(ApiError::internal)?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            user_email: emails.get(&s.user_id.0).cloned().unwrap_or_default(),
            created_at: ts(s.created_at),
            last_seen_at: ts(s.last_seen_at),
            auth_time: ts(s.auth_time),
            acr: s.acr().to_owned(),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            ended_at: s.ended_at.map(ts),
            end_reason: s.end_reason.map(|r| r.as_str().to_owned()),
            app_sessions: app_sessions
                .iter()
                .filter(|a| a.session_id == s.id)
                .map(|a| app_session_view(a, &labels, &emails))
                .collect(),
        })
        .collect())
}

/// Live IdP sessions with their live app sessions; `app` keeps the sessions that app takes part
/// in. The database pages the sessions; app sessions, apps and emails are read for the page's
/// sessions only (one query each).
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
    Ok(p.with(session_views(state, org, sessions).await?, total))
}

/// The live app sessions of one of the org's apps, newest first, those outliving their ended
/// IdP session included (the org's session list shows live IdP sessions only), each with its
/// user's email. Paged by the database; 404 for an app the org does not have.
pub async fn app_sessions(
    state: &AppState,
    org: &Org,
    id: &str,
    p: PageRequest,
) -> Result<Page<AppSessionView>, ApiError> {
    let app = super::apps::get_app(state, org, id).await?;
    let (rows, total) = state
        .store
        .app_live_sessions_page(org.id, app.id, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    let labels = BTreeMap::from([(app.id.0, (app.client_id.clone(), app.name.clone()))]);
    let user_ids: Vec<UserId> = distinct(rows.iter().map(|s| s.user_id.0), UserId);
    let emails = state
        .store
        .user_emails(org.id, &user_ids)
        .await
        .map_err(ApiError::internal)?;
    let items = rows
        .iter()
        .map(|s| app_session_view(s, &labels, &emails))
        .collect();
    Ok(p.with(items, total))
}

/// Where a user is signed in: their live IdP sessions and the ended ones that still hold a
/// live app session outliving them (`ended_at` set), newest first, each with its live app
/// sessions. Paged by the database; 404 for a user the org does not have.
pub async fn user_sessions(
    state: &AppState,
    org: &Org,
    id: &str,
    p: PageRequest,
) -> Result<Page<SessionView>, ApiError> {
    let user = super::users::find_user(state, org, id).await?;
    let (sessions, total) = state
        .store
        .user_sessions_page(org.id, user.id, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(session_views(state, org, sessions).await?, total))
}

/// One IdP session of the org, live or ended, with its live app sessions.
pub async fn get_session(state: &AppState, org: &Org, id: &str) -> Result<SessionView, ApiError> {
    let sid = SessionId(parse_id(id, "session")?);
    let session = state
        .store
        .session_by_id(org.id, sid)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let mut views = session_views(state, org, vec![session]).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::NotFound("no such session".into()))
}

/// Ends one live app session (local logout of that app: reason `admin_revoked`, the caller
/// named in the audit event, the app told by back-channel when it listens); its IdP session
/// and the other app sessions go on. With `dry_run`, what it would end and whom it would tell.
pub async fn revoke_app_session(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    dry_run: bool,
) -> Result<RevokeOutcome, ApiError> {
    let id = AppSessionId(parse_id(id, "app session")?);
    let not_found = || ApiError::NotFound("no such live app session".into());
    let s = state
        .store
        .app_session(org.id, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|s| s.ended_at.is_none())
        .ok_or_else(not_found)?;
    let notified = state
        .store
        .backchannel_client_ids(org.id, &[s.app_id])
        .await
        .map_err(ApiError::internal)?;
    let mut outcome = RevokeOutcome {
        dry_run: true,
        sessions: Vec::new(),
        app_sessions: vec![s.id.to_string()],
        apps_notified: notified,
    };
    if !dry_run {
        // Another request may have ended it since it was read: then this one ended nothing.
        let ended = state
            .oidc
            .revoke_app_session(org, id, &who.actor())
            .await
            .map_err(ApiError::internal)?;
        if !ended {
            return Err(not_found());
        }
        outcome.dry_run = false;
    }
    Ok(outcome)
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
    app: Option<&str>,
    p: PageRequest,
) -> Result<Page<DeliveryView>, ApiError> {
    if let Some(s) = status
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return Err(ApiError::field("status", "pending, delivered or failed"));
    }
    let app = app
        .map(|a| {
            a.parse::<Uuid>()
                .map(AppId)
                .map_err(|_| ApiError::field("app_id", "an app id"))
        })
        .transpose()?;
    let (deliveries, total) = state
        .store
        .logout_deliveries_page(org.id, status, app, p.offset(), p.limit())
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
