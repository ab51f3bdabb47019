//! Admin API rules: who the caller is, which org they may touch, and the operations (views in
//! the wire types of `portcullis-api-types`).

use super::error::ApiError;
use crate::accounts::{Role, UserId};
use crate::apps::{App, AppError, AppId, AppType, CreateApp, SessionProfile, SessionRules};
use crate::oidc::AppSession;
use crate::state::AppState;

use crate::sessions::{EndReason, Session, SessionId};
use crate::slo::LogoutDelivery;
use crate::tenancy::{Org, TenancyError};
use base64::Engine;
use portcullis_api_types::{
    AppCreateRequest, AppSessionView, AppView, AppWithSecret, AuditEventView, CredentialView,
    DeliveryView, EmailTemplateRequest, EmailTemplateView, OrgCreateRequest, OrgView, Page,
    PendingLinkView, RevokeOutcome, SessionPolicyView, SessionRulesView, SessionView,
    SigningKeyView, SignupPolicyView, UserCreateRequest, UserUpdateRequest, UserView,
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

/// The page a list request asks for: `?page=` from 1, `?per_page=` 1–200 (default 50). Lists
/// that grow with an org's users, sessions, apps or deliveries hand its offset and limit to the
/// database, with a count for `total`; none loads all of an org's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    pub fn parse(page: Option<u64>, per_page: Option<u64>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::field("page", "pages count from 1"));
        }
        if !(1..=200).contains(&per_page) {
            return Err(ApiError::field("per_page", "must be between 1 and 200"));
        }
        Ok(Self { page, per_page })
    }

    /// Rows before this page.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Rows on this page at most.
    pub fn limit(&self) -> u64 {
        self.per_page
    }

    fn with<T>(&self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total,
        }
    }
}

/// Pages a short list held in memory (an org's signing keys: a handful).
pub fn paginate<T>(
    items: Vec<T>,
    page: Option<u64>,
    per_page: Option<u64>,
) -> Result<Page<T>, ApiError> {
    let p = PageRequest::parse(page, per_page)?;
    let total = items.len() as u64;
    let skip = usize::try_from(p.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(p.limit()).unwrap_or(usize::MAX);
    Ok(p.with(items.into_iter().skip(skip).take(take).collect(), total))
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
        AppError::TooManyUris { .. } => ApiError::field("redirect_uris", e.to_string()),
        AppError::TooManyApps(_) => ApiError::Conflict(e.to_string()),
        other => ApiError::internal(other),
    }
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError::NotFound(format!("no such {what}")))
}

pub async fn list_apps(
    state: &AppState,
    org: &Org,
    p: PageRequest,
) -> Result<Page<AppView>, ApiError> {
    let (apps, total) = state
        .store
        .apps_page(org.id, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(apps.iter().map(app_view).collect(), total))
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
    match state.apps.delete(org, &app).await {
        Ok(()) => Ok(()),
        Err(AppError::Store(crate::store::StoreError::NotFound)) => {
            Err(ApiError::NotFound("no such app".into()))
        }
        Err(e) => Err(app_error(e)),
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
    let secret = state
        .apps
        .rotate_secret(org, &app, &who.actor())
        .await
        .map_err(app_error)?;
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

/// The distinct ids among `ids`, in order, as `T` (for one `IN (...)` query per kind).
fn distinct<T>(ids: impl Iterator<Item = Uuid>, wrap: fn(Uuid) -> T) -> Vec<T> {
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

fn delivery_view(d: &LogoutDelivery, client_ids: &BTreeMap<Uuid, String>) -> DeliveryView {
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
    if !(0..=crate::keys::MAX_PUBLISH_LEAD_SECS).contains(&lead) {
        return Err(ApiError::field(
            "publish_lead_secs",
            format!("must be 0 to {}", crate::keys::MAX_PUBLISH_LEAD_SECS),
        ));
    }
    let info = state
        .keys
        .rotate(org, alg, chrono::Duration::seconds(lead))
        .await
        .map_err(|e| match e {
            // Another rotation (or a first use) of this org won the race.
            crate::keys::KeyError::Store(crate::store::StoreError::Conflict) => {
                ApiError::Conflict("another key rotation is under way; try again".into())
            }
            other => ApiError::internal(other),
        })?;
    Ok(SigningKeyView {
        kid: info.kid,
        alg: info.alg.as_str().to_owned(),
        activates_at: ts(info.activates_at),
        expires_at: None,
    })
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    match raw {
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        _ => Err(ApiError::field("role", "member or admin")),
    }
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Ok(UserId(parse_id(raw, "user")?))
}

pub async fn user_view(
    state: &AppState,
    org: &Org,
    u: &crate::accounts::User,
) -> Result<UserView, ApiError> {
    let credentials = state
        .store
        .user_credentials(org.id, u.id)
        .await
        .map_err(ApiError::internal)?;
    let pending_links = state
        .accounts
        .pending_links(org, u)
        .await
        .map_err(ApiError::internal)?;
    Ok(user_view_of(u, credentials, pending_links))
}

/// A user's view from the user's keys and usable links.
fn user_view_of(
    u: &crate::accounts::User,
    credentials: Vec<crate::store::StoredCredential>,
    pending_links: Vec<crate::store::EmailLink>,
) -> UserView {
    let credentials = credentials
        .into_iter()
        .map(|c| CredentialView {
            id: c.id.to_string(),
            name: c.name,
            kind: c.kind,
            created_at: ts(c.created_at),
            last_used_at: c.last_used_at.map(ts),
        })
        .collect();
    let pending_links = pending_links
        .into_iter()
        .map(|l| PendingLinkView {
            purpose: l.purpose.as_str().to_owned(),
            created_at: ts(l.created_at),
            expires_at: ts(l.expires_at),
            new_email: l.new_email,
        })
        .collect();
    UserView {
        id: u.id.to_string(),
        email: u.email.as_str().to_owned(),
        name: u.name.clone(),
        role: u.role.as_str().to_owned(),
        active: u.active,
        created_at: ts(u.created_at),
        credentials,
        email_verified: u.email_verified_at.is_some(),
        pending_links,
    }
}

/// A page of the org's users (paged by the database), with the keys and usable links of the
/// page's users read in one query each (no query per user).
pub async fn list_users(
    state: &AppState,
    org: &Org,
    search: Option<&str>,
    p: PageRequest,
) -> Result<Page<UserView>, ApiError> {
    let (users, total) = state
        .store
        .users_page(org.id, search, p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let mut credentials: BTreeMap<Uuid, Vec<crate::store::StoredCredential>> = BTreeMap::new();
    for c in state
        .store
        .credentials_of_users(org.id, &ids)
        .await
        .map_err(ApiError::internal)?
    {
        credentials.entry(c.user_id.0).or_default().push(c);
    }
    let mut links: BTreeMap<Uuid, Vec<crate::store::EmailLink>> = BTreeMap::new();
    for l in state
        .store
        .pending_email_links_of(org.id, &ids, state.clock.now())
        .await
        .map_err(ApiError::internal)?
    {
        links.entry(l.user_id.0).or_default().push(l);
    }
    let items = users
        .iter()
        .map(|u| {
            user_view_of(
                u,
                credentials.remove(&u.id.0).unwrap_or_default(),
                links.remove(&u.id.0).unwrap_or_default(),
            )
        })
        .collect();
    Ok(p.with(items, total))
}

async fn find_user(
    state: &AppState,
    org: &Org,
    id: &str,
) -> Result<crate::accounts::User, ApiError> {
    state
        .store
        .user_by_id(org.id, user_id(id)?)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))
}

pub async fn get_user(state: &AppState, org: &Org, id: &str) -> Result<UserView, ApiError> {
    let u = find_user(state, org, id).await?;
    user_view(state, org, &u).await
}

pub async fn create_user(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: UserCreateRequest,
) -> Result<UserView, ApiError> {
    use crate::accounts::{AccountError, CreateUser};
    let role = parse_role(req.role.as_deref().unwrap_or("member"))?;
    let create = CreateUser {
        email: &req.email,
        password: req.password.as_deref(),
        name: req.name.as_deref(),
        role,
    };
    // The invitation's place in the org's mail quota is taken first: refused, nothing is made.
    let slot = match req.invite {
        Some(true) => Some(
            state
                .accounts
                .reserve_invitation(org)
                .await
                .map_err(ApiError::invitation)?,
        ),
        _ => None,
    };
    let user = match state.accounts.create_user(org, create, &who.actor()).await {
        Ok(u) => u,
        Err(e @ AccountError::InvalidEmail(_)) => {
            return Err(ApiError::field("email", e.to_string()));
        }
        Err(e @ AccountError::InvalidPassword(_)) => {
            return Err(ApiError::field("password", e.to_string()));
        }
        Err(e @ AccountError::InvalidName) => return Err(ApiError::field("name", e.to_string())),
        Err(e @ AccountError::EmailTaken(_)) => return Err(ApiError::Conflict(e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    if let Some(slot) = slot {
        state
            .accounts
            .invite_with(org, &user, &who.actor(), slot)
            .await
            .map_err(ApiError::invitation)?;
    }
    user_view(state, org, &user).await
}

/// Sends (again) the invitation link; the previous one stops working.
pub async fn invite_user(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<UserView, ApiError> {
    let u = find_user(state, org, id).await?;
    if !u.active {
        return Err(ApiError::Conflict("the user is disabled".into()));
    }
    state
        .accounts
        .invite(org, &u, &who.actor())
        .await
        .map_err(ApiError::invitation)?;
    user_view(state, org, &u).await
}

pub async fn update_user(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    req: UserUpdateRequest,
) -> Result<UserView, ApiError> {
    let u = find_user(state, org, id).await?;
    let role = req.role.as_deref().map(parse_role).transpose()?;
    let name = match req.name {
        None => None,
        Some(n) if n.trim().is_empty() => Some(None),
        Some(n) if n.chars().count() > 200 => {
            return Err(ApiError::field("name", "at most 200 characters"));
        }
        Some(n) => Some(Some(n.trim().to_owned())),
    };
    state
        .store
        .update_user(org.id, u.id, name, role, &who.actor(), state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    state.sessions.user_changed(org.id, u.id).await;
    get_user(state, org, id).await
}

/// Disables (every session ends, reason `user_disabled`) or enables a user.
pub async fn set_user_active(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    active: bool,
) -> Result<UserView, ApiError> {
    let u = find_user(state, org, id).await?;
    state
        .accounts
        .set_active(org, u.email.as_str(), active, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    get_user(state, org, id).await
}

/// Ends every session of the user (reason `user_deleted`, apps told) and deletes the user, in
/// one transaction.
pub async fn delete_user(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<(), ApiError> {
    let u = find_user(state, org, id).await?;
    // The sessions end and the user goes in one transaction: a session made meanwhile cannot
    // be dropped by the cascade without an end (and its copies' tombstones).
    let ended = state
        .store
        .delete_user(org.id, u.id, &who.actor(), state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    state.sessions.forget_ended(&ended).await;
    state.sessions.user_changed(org.id, u.id).await;
    let event = crate::audit::AuditEvent {
        org_id: org.id,
        actor: who.actor(),
        action: "user.deleted",
        target: Some(u.id.to_string()),
        details: serde_json::json!({}),
    };
    state
        .store
        .record_audit(&event, state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// Removes the user's keys and recovery codes; their sessions end (reason `mfa_reset`), so the
/// next sign-in follows the org's MFA policy from scratch.
pub async fn reset_mfa(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
) -> Result<UserView, ApiError> {
    let u = find_user(state, org, id).await?;
    state
        .store
        .reset_user_mfa(org.id, u.id, &who.actor(), state.clock.now())
        .await
        .map_err(ApiError::internal)?;
    state
        .sessions
        .end_user_sessions(org.id, u.id, None, EndReason::MfaReset, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    user_view(state, org, &u).await
}

fn policy_view(p: &crate::sessions::SessionPolicy) -> SessionPolicyView {
    SessionPolicyView {
        idle_timeout_secs: p.idle_timeout_secs,
        absolute_lifetime_secs: p.absolute_lifetime_secs,
        remember_me_allowed: p.remember_me_allowed,
        remember_me_lifetime_secs: p.remember_me_lifetime_secs,
        mfa: p.mfa.as_str().to_owned(),
    }
}

pub async fn get_policy(state: &AppState, org: &Org) -> Result<SessionPolicyView, ApiError> {
    let p = state
        .sessions
        .policy(org.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(policy_view(&p))
}

pub async fn set_policy(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: SessionPolicyView,
) -> Result<SessionPolicyView, ApiError> {
    let mfa = req
        .mfa
        .parse::<crate::sessions::MfaPolicy>()
        .map_err(|m| ApiError::field("mfa", m))?;
    let policy = crate::sessions::SessionPolicy {
        idle_timeout_secs: req.idle_timeout_secs,
        absolute_lifetime_secs: req.absolute_lifetime_secs,
        remember_me_allowed: req.remember_me_allowed,
        remember_me_lifetime_secs: req.remember_me_lifetime_secs,
        mfa,
    };
    match state
        .sessions
        .set_policy(org.id, policy, &who.actor())
        .await
    {
        Ok(p) => Ok(policy_view(&p)),
        Err(crate::sessions::SessionError::InvalidPolicy(e)) => {
            Err(ApiError::field("policy", e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn signup_view(p: crate::tenancy::SignupPolicy) -> SignupPolicyView {
    SignupPolicyView {
        mode: p.mode.as_str().to_owned(),
        require_verified_email: p.require_verified_email,
    }
}

pub fn get_signup_policy(org: &Org) -> SignupPolicyView {
    signup_view(org.signup)
}

pub async fn set_signup_policy(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: SignupPolicyView,
) -> Result<SignupPolicyView, ApiError> {
    let mode = crate::tenancy::SignupMode::parse(&req.mode)
        .ok_or_else(|| ApiError::field("mode", "expected off, open or invite_only"))?;
    let policy = crate::tenancy::SignupPolicy {
        mode,
        require_verified_email: req.require_verified_email,
    };
    let org = state
        .orgs
        .set_signup(org, policy, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    Ok(signup_view(org.signup))
}

fn template_kind(raw: &str) -> Result<crate::email::TemplateKind, ApiError> {
    crate::email::TemplateKind::parse(raw)
        .ok_or_else(|| ApiError::NotFound(format!("no email template kind {raw:?}")))
}

async fn template_view(
    state: &AppState,
    org: &Org,
    kind: crate::email::TemplateKind,
) -> Result<EmailTemplateView, ApiError> {
    let custom = state
        .store
        .email_template(org.id, kind)
        .await
        .map_err(ApiError::internal)?;
    let is_custom = custom.is_some();
    let t = custom.unwrap_or_else(|| crate::email::templates::default_template(kind));
    Ok(EmailTemplateView {
        kind: kind.as_str().to_owned(),
        subject: t.subject,
        text: t.text,
        html: t.html,
        placeholders: kind
            .placeholders()
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect(),
        custom: is_custom,
    })
}

pub async fn list_email_templates(
    state: &AppState,
    org: &Org,
) -> Result<Vec<EmailTemplateView>, ApiError> {
    let mut out = Vec::new();
    for kind in crate::email::TemplateKind::ALL {
        out.push(template_view(state, org, kind).await?);
    }
    Ok(out)
}

/// Stores the org's template of `kind` (`None`: back to the built-in one).
pub async fn set_email_template(
    state: &AppState,
    org: &Org,
    who: &Principal,
    kind: &str,
    req: Option<EmailTemplateRequest>,
) -> Result<EmailTemplateView, ApiError> {
    let kind = template_kind(kind)?;
    let template = req.map(|r| crate::email::Template {
        subject: r.subject,
        text: r.text,
        html: r.html,
    });
    if let Some(t) = &template {
        crate::email::templates::validate(kind, t)
            .map_err(|e| ApiError::field(e.field, e.message))?;
    }
    state
        .store
        .set_email_template(
            org.id,
            kind,
            template.as_ref(),
            &who.actor(),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::internal)?;
    template_view(state, org, kind).await
}

pub async fn audit_events(
    state: &AppState,
    org: &Org,
    action: Option<&str>,
    target: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    p: PageRequest,
) -> Result<Page<AuditEventView>, ApiError> {
    let time = |raw: Option<&str>, field: &str| {
        raw.map(|r| {
            chrono::DateTime::parse_from_rfc3339(r)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::field(field, "an RFC 3339 time, e.g. 2026-11-29T10:00:00Z"))
        })
        .transpose()
    };
    let since = time(since, "since")?;
    let until = time(until, "until")?;
    let (events, total) = state
        .store
        .audit_events_page(
            org.id,
            action,
            target,
            since,
            until,
            p.offset(),
            p.limit(),
            true,
        )
        .await
        .map_err(ApiError::internal)?;
    let items = events
        .into_iter()
        .map(|e| AuditEventView {
            id: e.id.to_string(),
            at: ts(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details.to_string(),
        })
        .collect();
    Ok(p.with(items, total))
}

/// Operators: admins of the platform org. They manage orgs (and their own org like any admin).
pub fn require_operator(who: &Principal) -> Result<(), ApiError> {
    if who.org.slug.as_str() == crate::tenancy::PLATFORM_ORG_SLUG {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only operators (admins of the platform org) manage orgs".into(),
        ))
    }
}

fn org_view(state: &AppState, o: &Org) -> OrgView {
    OrgView {
        id: o.id.to_string(),
        slug: o.slug.as_str().to_owned(),
        name: o.name.clone(),
        status: o.status.as_str().to_owned(),
        issuer: o.issuer(state.config.public_url()),
        created_at: ts(o.created_at),
    }
}

pub async fn list_orgs(
    state: &AppState,
    who: &Principal,
    p: PageRequest,
) -> Result<Page<OrgView>, ApiError> {
    require_operator(who)?;
    let (orgs, total) = state
        .store
        .orgs_page(p.offset(), p.limit())
        .await
        .map_err(ApiError::internal)?;
    Ok(p.with(orgs.iter().map(|o| org_view(state, o)).collect(), total))
}

pub async fn create_org(
    state: &AppState,
    who: &Principal,
    req: OrgCreateRequest,
) -> Result<OrgView, ApiError> {
    require_operator(who)?;
    let alg = req
        .signing_alg
        .as_deref()
        .map(|a| a.parse::<crate::keys::SigningAlg>())
        .transpose()
        .map_err(|m| ApiError::field("signing_alg", m))?;
    let org = match state
        .orgs
        .create(&req.slug, req.name.as_deref(), &who.actor())
        .await
    {
        Ok(org) => org,
        Err(e @ TenancyError::InvalidSlug(_)) => {
            return Err(ApiError::field("slug", e.to_string()));
        }
        Err(e @ TenancyError::SlugTaken(_)) => return Err(ApiError::Conflict(e.to_string())),
        Err(e @ TenancyError::InvalidName) => return Err(ApiError::field("name", e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    state
        .keys
        .rotate(
            &org,
            Some(alg.unwrap_or(crate::keys::SigningAlg::Es256)),
            chrono::Duration::zero(),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(org_view(state, &org))
}

pub async fn set_org_status(
    state: &AppState,
    who: &Principal,
    slug: &str,
    active: bool,
) -> Result<OrgView, ApiError> {
    require_operator(who)?;
    if slug == crate::tenancy::PLATFORM_ORG_SLUG && !active {
        return Err(ApiError::Conflict(
            "the platform org cannot be disabled".into(),
        ));
    }
    let status = if active {
        crate::tenancy::OrgStatus::Active
    } else {
        crate::tenancy::OrgStatus::Disabled
    };
    match state.orgs.set_status(slug, status, &who.actor()).await {
        Ok(org) => Ok(org_view(state, &org)),
        Err(TenancyError::NotFound(_)) => Err(ApiError::NotFound("no such org".into())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub async fn update_app(
    state: &AppState,
    org: &Org,
    who: &Principal,
    id: &str,
    req: portcullis_api_types::AppUpdateRequest,
) -> Result<AppView, ApiError> {
    let app = get_app(state, org, id).await?;
    let profile = match req.session_profile.as_deref() {
        Some(p) => p
            .parse::<SessionProfile>()
            .map_err(|m| ApiError::field("session_profile", m))?,
        None => app.session_profile,
    };
    let rules = match (&req.session_rules, &req.session_profile) {
        (Some(r), _) => SessionRules {
            reauth_max_age_secs: r.reauth_max_age_secs,
            mfa_required: r.mfa_required,
            idle_timeout_secs: r.idle_timeout_secs,
            lifetime_secs: r.lifetime_secs,
            outlives_idp_session: r.outlives_idp_session,
        },
        (None, Some(_)) => profile.preset(),
        (None, None) => app.settings.session,
    };
    let uris =
        |v: &[crate::apps::AppUri]| v.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
    let logout = |changed: Option<String>, current: &Option<crate::apps::AppUri>| match changed {
        Some(u) if u.is_empty() => None,
        Some(u) => Some(u),
        None => current.as_ref().map(|u| u.as_str().to_owned()),
    };
    let change = CreateApp {
        redirect_uris: req
            .redirect_uris
            .unwrap_or_else(|| uris(&app.redirect_uris)),
        post_logout_redirect_uris: req
            .post_logout_redirect_uris
            .unwrap_or_else(|| uris(&app.post_logout_redirect_uris)),
        backchannel_logout_uri: logout(req.backchannel_logout_uri, &app.backchannel_logout_uri),
        frontchannel_logout_uri: logout(req.frontchannel_logout_uri, &app.frontchannel_logout_uri),
        session_profile: profile,
        rules: Some(rules),
        first_party: req.first_party.unwrap_or(app.settings.first_party),
        access_token_ttl_secs: Some(
            req.access_token_ttl_secs
                .unwrap_or(app.settings.access_token_ttl_secs),
        ),
        id_token_ttl_secs: Some(
            req.id_token_ttl_secs
                .unwrap_or(app.settings.id_token_ttl_secs),
        ),
        grant_types: Some(app.settings.grant_types.clone()),
        ..CreateApp::new(req.name.as_deref().unwrap_or(&app.name), app.app_type)
    };
    let updated = state
        .apps
        .update(org, &app, change, &who.actor())
        .await
        .map_err(app_error)?;
    Ok(app_view(&updated))
}

/// Successful and failed sign-ins per hour over the last `hours` hours, oldest first.
pub async fn activity(
    state: &AppState,
    org: &Org,
    hours: Option<i64>,
) -> Result<Vec<portcullis_api_types::ActivityHour>, ApiError> {
    use chrono::{DurationRound, TimeDelta};
    let hours = hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(ApiError::field("hours", "between 1 and 168"));
    }
    let now = state.clock.now();
    let end = now
        .duration_trunc(TimeDelta::hours(1))
        .map_err(ApiError::internal)?
        + TimeDelta::hours(1);
    let start = end - TimeDelta::hours(hours);
    // Counted by the database: a flood of sign-in rows costs no memory here.
    let counts = state
        .store
        .signin_activity(org.id, start, hours)
        .await
        .map_err(ApiError::internal)?;
    let mut out: Vec<portcullis_api_types::ActivityHour> = (0..hours)
        .map(|i| portcullis_api_types::ActivityHour {
            hour: ts(start + TimeDelta::hours(i)),
            signins: 0,
            failures: 0,
        })
        .collect();
    for (hour, action, n) in counts {
        let n = u64::try_from(n).unwrap_or(0);
        let Some(bucket) = usize::try_from(hour).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match action.as_str() {
            "signin.succeeded" | "signin.reauthenticated" => bucket.signins += n,
            "signin.failed" => bucket.failures += n,
            _ => {}
        }
    }
    Ok(out)
}
