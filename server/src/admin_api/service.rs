//! Admin API rules: who the caller is, which org they may touch, and the operations (views in
//! the wire types of `portcullis-api-types`).

use super::error::ApiError;
use crate::accounts::{Role, UserId};
use crate::app::AppState;
use crate::apps::{App, AppError, AppId, AppType, CreateApp, SessionProfile, SessionRules};
use crate::oidc::AppSession;
use crate::secrets::{random_token, sha256_hex};
use crate::sessions::{EndReason, Session, SessionId};
use crate::slo::LogoutDelivery;
use crate::tenancy::{Org, TenancyError};
use base64::Engine;
use portcullis_api_types::{
    AppCreateRequest, AppSessionView, AppView, AppWithSecret, DeliveryView, Page, RevokeOutcome,
    SessionRulesView, SessionView, SigningKeyView,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Who calls the admin API.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The org whose key signed the token: the only org the caller may manage.
    pub org: Org,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An admin user, through an admin app (the console).
    User(UserId),
    /// A service app with the admin role (client credentials).
    Service(String),
}

impl Principal {
    pub fn actor(&self) -> String {
        match &self.kind {
            PrincipalKind::User(u) => format!("user:{u}"),
            PrincipalKind::Service(c) => format!("app:{c}"),
        }
    }
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

/// The issuer claim of a token, read before verification only to pick the org whose keys verify
/// it (the verification that follows decides).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Authenticates a bearer token: an access token one of our orgs signed for an app with the
/// admin role; for user tokens the user must be an active admin of that org.
pub async fn authenticate(state: &AppState, bearer: Option<&str>) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| ApiError::Unauthorized(m.to_owned());
    let token = bearer.ok_or_else(|| unauthorized("a bearer access token is required"))?;
    let issuer =
        unverified_issuer(token).ok_or_else(|| unauthorized("the access token is invalid"))?;
    let prefix = format!("{}/o/", state.config.public_url());
    let slug = issuer
        .strip_prefix(&prefix)
        .filter(|s| !s.contains('/'))
        .ok_or_else(|| unauthorized("the access token is invalid"))?;
    let org = match state.orgs.resolve_active(slug).await {
        Ok(org) => org,
        Err(
            TenancyError::NotFound(_) | TenancyError::Disabled(_) | TenancyError::InvalidSlug(_),
        ) => {
            return Err(unauthorized("the access token is invalid"));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let (claims, app) = state
        .oidc
        .verify_access_token(&org, token)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| unauthorized("the access token is invalid, expired or revoked"))?;
    if !app.admin {
        return Err(ApiError::Forbidden(
            "this token was not issued to an app with the admin role".into(),
        ));
    }
    let kind = match claims.app_session {
        None if app.app_type == AppType::Service => PrincipalKind::Service(app.client_id.clone()),
        None => return Err(unauthorized("the access token is invalid")),
        Some(_) => {
            let user_id = claims
                .sub
                .parse::<Uuid>()
                .map(UserId)
                .map_err(|_| unauthorized("the access token is invalid"))?;
            let user = state
                .store
                .user_by_id(org.id, user_id)
                .await
                .map_err(ApiError::internal)?
                .filter(|u| u.active)
                .ok_or_else(|| unauthorized("the user no longer exists or is disabled"))?;
            if user.role != Role::Admin {
                return Err(ApiError::Forbidden(
                    "the admin API is for org admins".into(),
                ));
            }
            PrincipalKind::User(user.id)
        }
    };
    Ok(Principal { org, kind })
}

/// The org in the path, if the caller may manage it (their own org only).
pub async fn org_for(state: &AppState, who: &Principal, slug: &str) -> Result<Org, ApiError> {
    let org = match state.orgs.find(slug).await {
        Ok(org) => org,
        Err(TenancyError::NotFound(_) | TenancyError::InvalidSlug(_)) => {
            return Err(ApiError::Forbidden(
                "you may manage your own org only".into(),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    if org.id != who.org.id {
        return Err(ApiError::Forbidden(
            "you may manage your own org only".into(),
        ));
    }
    Ok(org)
}

pub fn paginate<T>(
    items: Vec<T>,
    page: Option<u64>,
    per_page: Option<u64>,
) -> Result<Page<T>, ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(50);
    if page == 0 {
        return Err(ApiError::field("page", "pages count from 1"));
    }
    if !(1..=200).contains(&per_page) {
        return Err(ApiError::field("per_page", "must be between 1 and 200"));
    }
    let total = items.len() as u64;
    let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(usize::MAX);
    Ok(Page {
        items: items.into_iter().skip(skip).take(take).collect(),
        page,
        per_page,
        total,
    })
}

fn rules_view(r: &SessionRules) -> SessionRulesView {
    SessionRulesView {
        reauth_max_age_secs: r.reauth_max_age_secs,
        mfa_required: r.mfa_required,
        idle_timeout_secs: r.idle_timeout_secs,
        lifetime_secs: r.lifetime_secs,
        outlives_idp_session: r.outlives_idp_session,
    }
}

pub fn app_view(a: &App) -> AppView {
    AppView {
        id: a.id.to_string(),
        client_id: a.client_id.clone(),
        name: a.name.clone(),
        app_type: a.app_type.as_str().to_owned(),
        redirect_uris: a
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        post_logout_redirect_uris: a
            .post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        backchannel_logout_uri: a
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        frontchannel_logout_uri: a
            .frontchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        session_profile: a.session_profile.as_str().to_owned(),
        session_rules: rules_view(&a.settings.session),
        first_party: a.settings.first_party,
        access_token_ttl_secs: a.settings.access_token_ttl_secs,
        id_token_ttl_secs: a.settings.id_token_ttl_secs,
        grant_types: a
            .settings
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        admin: a.admin,
        created_at: ts(a.created_at),
    }
}

fn app_error(e: AppError) -> ApiError {
    match e {
        AppError::InvalidName => ApiError::field("name", e.to_string()),
        AppError::InvalidUri(ref u) => ApiError::field("redirect_uris", u.to_string()),
        AppError::MissingRedirectUri(_) => ApiError::field("redirect_uris", e.to_string()),
        AppError::ServiceWithUris => ApiError::field("redirect_uris", e.to_string()),
        AppError::InvalidSettings(m) => ApiError::field("session_rules", m),
        AppError::ClientIdTaken => ApiError::Conflict(e.to_string()),
        other => ApiError::internal(other),
    }
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError::NotFound(format!("no such {what}")))
}

pub async fn list_apps(state: &AppState, org: &Org) -> Result<Vec<AppView>, ApiError> {
    Ok(state
        .store
        .apps(org.id)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(app_view)
        .collect())
}

pub async fn get_app(state: &AppState, org: &Org, id: &str) -> Result<App, ApiError> {
    let id = AppId(parse_id(id, "app")?);
    state
        .store
        .app_by_id(org.id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound("no such app".into()))
}

pub async fn create_app(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: AppCreateRequest,
) -> Result<AppWithSecret, ApiError> {
    let app_type = match req.app_type.as_deref().unwrap_or("web").parse::<AppType>() {
        Ok(t) => t,
        Err(m) => return Err(ApiError::field("app_type", m)),
    };
    let profile = match req
        .session_profile
        .as_deref()
        .unwrap_or("standard")
        .parse::<SessionProfile>()
    {
        Ok(p) => p,
        Err(m) => return Err(ApiError::field("session_profile", m)),
    };
    let create = CreateApp {
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        backchannel_logout_uri: req.backchannel_logout_uri,
        frontchannel_logout_uri: req.frontchannel_logout_uri,
        session_profile: profile,
        rules: req.session_rules.map(|r| SessionRules {
            reauth_max_age_secs: r.reauth_max_age_secs,
            mfa_required: r.mfa_required,
            idle_timeout_secs: r.idle_timeout_secs,
            lifetime_secs: r.lifetime_secs,
            outlives_idp_session: r.outlives_idp_session,
        }),
        first_party: req.first_party.unwrap_or(true),
        access_token_ttl_secs: req.access_token_ttl_secs,
        id_token_ttl_secs: req.id_token_ttl_secs,
        ..CreateApp::new(&req.name, app_type)
    };
    let (app, secret) = state
        .apps
        .create(org, create, &who.actor())
        .await
        .map_err(app_error)?;
    Ok(AppWithSecret {
        app: app_view(&app),
        client_secret: secret,
    })
}

pub async fn delete_app(state: &AppState, org: &Org, id: &str) -> Result<(), ApiError> {
    let app = get_app(state, org, id).await?;
    match state.store.delete_app(org.id, app.id).await {
        Ok(()) => Ok(()),
        Err(crate::store::StoreError::NotFound) => Err(ApiError::NotFound("no such app".into())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub async fn rotate_secret(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<AppWithSecret, ApiError> {
    let app = get_app(state, org, id).await?;
    if !app.app_type.is_confidential() {
        return Err(ApiError::Conflict("a public app has no secret".into()));
    }
    let secret = random_token(32).map_err(ApiError::internal)?;
    state
        .store
        .set_app_secret_hash(
            org.id,
            app.id,
            &sha256_hex(&secret),
            &who.actor(),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(AppWithSecret {
        app: app_view(&app),
        client_secret: Some(secret),
    })
}

fn app_session_view(s: &AppSession, client_ids: &BTreeMap<Uuid, String>) -> AppSessionView {
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

async fn app_index(state: &AppState, org: &Org) -> Result<Vec<App>, ApiError> {
    state.store.apps(org.id).await.map_err(ApiError::internal)
}

/// Live IdP sessions with their live app sessions; `app` keeps the sessions that app takes part in.
pub async fn list_sessions(
    state: &AppState,
    org: &Org,
    user: Option<&str>,
    app: Option<&str>,
) -> Result<Vec<SessionView>, ApiError> {
    let user = user.map(|u| parse_id(u, "user").map(UserId)).transpose()?;
    let app = app.map(|a| parse_id(a, "app").map(AppId)).transpose()?;
    let apps = app_index(state, org).await?;
    let client_ids: BTreeMap<Uuid, String> =
        apps.iter().map(|a| (a.id.0, a.client_id.clone())).collect();
    let sessions = state
        .store
        .live_sessions(org.id, user)
        .await
        .map_err(ApiError::internal)?;
    let app_sessions = state
        .store
        .live_app_sessions(org.id, None, user, None)
        .await
        .map_err(ApiError::internal)?;
    let mut out = Vec::new();
    for s in sessions {
        let mine: Vec<&AppSession> = app_sessions
            .iter()
            .filter(|a| a.session_id == s.id)
            .collect();
        if let Some(app) = app
            && !mine.iter().any(|a| a.app_id == app)
        {
            continue;
        }
        out.push(SessionView {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
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
    Ok(out)
}

/// What ending `sessions` (and, for a user-wide revocation, every live app session of the
/// user) ends and whom it tells: the same rules as `store::slo::end_app_sessions`.
async fn preview(
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
    let apps = app_index(state, org).await?;
    let involved: BTreeSet<Uuid> = app_sessions.iter().map(|a| a.app_id.0).collect();
    let mut notified: Vec<String> = apps
        .iter()
        .filter(|a| involved.contains(&a.id.0) && a.backchannel_logout_uri.is_some())
        .map(|a| a.client_id.clone())
        .collect();
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

fn delivery_view(d: &LogoutDelivery) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        app_id: d.app_id.to_string(),
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
) -> Result<Vec<DeliveryView>, ApiError> {
    if let Some(s) = status
        && !["pending", "delivered", "failed"].contains(&s)
    {
        return Err(ApiError::field("status", "pending, delivered or failed"));
    }
    Ok(state
        .store
        .logout_deliveries(org.id)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .filter(|d| status.is_none_or(|s| d.status == s))
        .map(delivery_view)
        .collect())
}

pub async fn retry_delivery(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let id = parse_id(id, "delivery")?;
    let done = state
        .store
        .retry_logout_delivery(org.id, id, &who.actor(), state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    if done {
        Ok(())
    } else {
        Err(ApiError::NotFound("no such undelivered delivery".into()))
    }
}

pub async fn list_keys(state: &AppState, org: &Org) -> Result<Vec<SigningKeyView>, ApiError> {
    // Publishing the JWKS makes the first key if the org has none yet.
    state.keys.jwks(org.id).await.map_err(ApiError::internal)?;
    Ok(state
        .store
        .signing_keys(org.id, state.clock.now())
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(|k| SigningKeyView {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            activates_at: ts(k.activates_at),
            expires_at: k.expires_at.map(ts),
        })
        .collect())
}

pub async fn rotate_key(
    state: &AppState,
    org: &Org,
    alg: Option<&str>,
    publish_lead_secs: Option<i64>,
) -> Result<SigningKeyView, ApiError> {
    let alg = alg
        .map(|a| a.parse::<crate::keys::SigningAlg>())
        .transpose()
        .map_err(|m| ApiError::field("alg", m))?;
    let lead = publish_lead_secs.unwrap_or(state.config.keys.rotation_publish_lead_secs);
    if lead < 0 {
        return Err(ApiError::field("publish_lead_secs", "must not be negative"));
    }
    let info = state
        .keys
        .rotate(org, alg, chrono::Duration::seconds(lead))
        .await
        .map_err(ApiError::internal)?;
    Ok(SigningKeyView {
        kid: info.kid,
        alg: info.alg.as_str().to_owned(),
        activates_at: ts(info.activates_at),
        expires_at: None,
    })
}
