//! Who calls the admin API and which org they may manage.

use crate::accounts::{Role, UserId};
use crate::admin_api::ApiError;
use crate::apps::AppType;
use crate::state::AppState;

use crate::tenancy::{Org, TenancyError};
use base64::Engine;
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

/// The issuer claim of a token, read before verification only to pick the org whose keys verify
/// it (the verification that follows decides).
pub(super) fn unverified_issuer(token: &str) -> Option<String> {
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
