//! Helpers of every way of signing in on the hosted pages (password, passkey, second factor,
//! invitation, recovery code): where to go next, the session and half-signed-in cookies.

use super::extract::session_of;
use super::pages::{
    ACCOUNT_PATH, PENDING_COOKIE, clear_session_cookie, org_path, return_path, session_cookie,
};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::HttpRequest;

/// Only paths inside this org may be returned to (never another site: no open redirect; never
/// another org: `return_path` is the one check); else the account page.
pub fn safe_return_to(org: &Org, raw: Option<&str>) -> String {
    let base = org_path(org);
    return_path(&base, raw).unwrap_or_else(|| format!("{base}{ACCOUNT_PATH}"))
}

pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub fn pending_cookie(
    state: &AppState,
    org: &Org,
    token: &str,
) -> actix_web::cookie::Cookie<'static> {
    let mut c = session_cookie(
        state,
        org,
        token,
        Some(crate::authn::webauthn::PENDING_SECS),
    );
    c.set_name(PENDING_COOKIE);
    c
}

pub fn clear_pending_cookie(state: &AppState, org: &Org) -> actix_web::cookie::Cookie<'static> {
    let mut c = clear_session_cookie(state, org);
    c.set_name(PENDING_COOKIE);
    c
}

/// The half-signed-in cookie's value, if the browser has one.
pub fn pending_token(req: &HttpRequest) -> Option<String> {
    req.cookie(PENDING_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The cookie of a session a sign-in just started (or re-authenticated), after ending the
/// browser's previous session: every way of signing in (password, passkey, second factor, first
/// key, invitation, recovery code) goes through here, so the session the cookie replaces never
/// lives on unseen, and its apps are told (`SessionService::end` queues their logout
/// deliveries). A re-authenticated session keeps its id and is left alone; its old cookie
/// value no longer finds it anyway.
pub async fn new_session_cookie(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    session: &crate::sessions::Session,
    token: &crate::sessions::SessionToken,
) -> actix_web::cookie::Cookie<'static> {
    let previous = session_of(req, state, org).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not look up the session a sign-in replaces");
        None
    });
    if let Some(previous) = previous.filter(|p| p.id != session.id)
        && let Err(e) = state
            .sessions
            .end(
                org.id,
                previous.id,
                crate::sessions::EndReason::Logout,
                "signin",
            )
            .await
    {
        tracing::warn!(error = %e, "could not end the previous session");
    }
    let max_age = session
        .remember_me
        .then(|| (session.absolute_expiry - session.created_at).num_seconds());
    session_cookie(state, org, &token.0, max_age)
}
