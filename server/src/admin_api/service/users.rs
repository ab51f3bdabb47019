//! Users: list, read, create, invite, change (through `AccountService`), disable, delete, reset MFA.

use super::*;
use crate::accounts::{AccountError, Role, UserId};
use crate::admin_api::ApiError;
use crate::state::AppState;

use crate::tenancy::Org;
use portcullis_api_types::{
    CredentialView, Page, PendingLinkView, UserCreateRequest, UserUpdateRequest, UserView,
};
use std::collections::BTreeMap;
use uuid::Uuid;

pub(super) fn parse_role(raw: &str) -> Result<Role, ApiError> {
    match raw {
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        _ => Err(ApiError::field("role", "member or admin")),
    }
}

pub(super) fn user_id(raw: &str) -> Result<UserId, ApiError> {
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
pub(super) fn user_view_of(
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

/// The users list's filter: part of the email, `status` (`active` or `disabled`) and whether
/// the email is verified.
pub fn users_filter<'a>(
    search: Option<&'a str>,
    status: Option<&str>,
    verified: Option<bool>,
) -> Result<crate::store::UserQuery<'a>, ApiError> {
    let active = match status {
        None => None,
        Some("active") => Some(true),
        Some("disabled") => Some(false),
        Some(_) => return Err(ApiError::field("status", "active or disabled")),
    };
    Ok(crate::store::UserQuery {
        search,
        active,
        verified,
    })
}

/// A page of the org's users (paged by the database), with the keys and usable links of the
/// page's users read in one query each (no query per user).
pub async fn list_users(
    state: &AppState,
    org: &Org,
    filter: &crate::store::UserQuery<'_>,
    p: PageRequest,
) -> Result<Page<UserView>, ApiError> {
    let (users, total) = state
        .store
        .users_page(org.id, filter, p.offset(), p.limit())
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

pub(super) async fn find_user(
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
    let updated = state
        .accounts
        .update_profile(org, u.id, req.name.as_deref(), role, &who.actor())
        .await;
    match updated {
        Ok(()) => {}
        Err(e @ AccountError::InvalidName) => return Err(ApiError::field("name", e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    }
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
    state
        .accounts
        .delete_user(org, u.id, &who.actor())
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
        .accounts
        .reset_mfa(org, u.id, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    user_view(state, org, &u).await
}
