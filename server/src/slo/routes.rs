//! Signing out: the sign-out page (`/logout`), RP-initiated logout (`end_session_endpoint`)
//! and the signed-out page that carries the front-channel logout iframes.

use super::service::{EndSessionDecision, EndSessionParams};
use crate::http::extract::{Checked, MaybeSession, TokenOnly, session_of};
use crate::http::headers::CONTENT_SECURITY_POLICY;
use crate::http::pages::{
    LOGIN_PATH, LOGOUT_PATH, clear_session_cookie, csrf_token, message, org_path, render, see_other,
};
use crate::http::{CurrentOrg, OrUnavailable, PageError};
use crate::sessions::{EndReason, Session, SessionError, SessionId};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const END_SESSION_PATH: &str = "/end-session";
/// Seconds the signed-out page waits for front-channel iframes before moving on.
const FRONTCHANNEL_WAIT_SECS: u32 = 2;
/// The same with SAML frames, whose LogoutRequest goes to the SP and its answer comes back.
const SAML_FRONTCHANNEL_WAIT_SECS: u32 = 5;

/// The page handlers' result.
type Page = Result<HttpResponse, PageError>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LOGOUT_PATH, web::get().to(logout_page))
        .route(LOGOUT_PATH, web::post().to(logout_submit))
        .route(END_SESSION_PATH, web::get().to(end_session_get))
        .route(END_SESSION_PATH, web::post().to(end_session_post));
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    frames: Vec<String>,
    next: Option<&'a str>,
    delay: u32,
}

/// The front-channel frames of an ended session and the origins they load: each OIDC app's
/// front-channel logout URI, and for each SAML app with a Redirect or POST SLO binding our own
/// frame (`saml::slo`), which goes on to that SP (its origin is allowed too). A failure to read
/// them leaves the page without frames (the outbox still records the SAML deliveries).
async fn front_channel(state: &AppState, org: &Org, sid: SessionId) -> (Vec<String>, Vec<String>) {
    let mut frames = state
        .slo
        .frontchannel_urls(org, sid)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "front-channel logout URLs unavailable");
            Vec::new()
        });
    let mut origins: Vec<String> = frames
        .iter()
        .filter_map(|f| url::Url::parse(f).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    let slo = crate::saml::slo::Slo {
        saml: &state.saml,
        apps: &state.apps,
        store: &state.store,
        sessions: &state.sessions,
        now: state.clock.now(),
    };
    match slo.front_frames(org, sid, &org_path(org)).await {
        Ok(saml) if !saml.is_empty() => {
            origins.push("'self'".to_owned());
            for f in saml {
                origins.push(f.origin);
                frames.push(f.url);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "SAML front-channel logouts unavailable"),
    }
    origins.dedup();
    (frames, origins)
}

/// The page after a sign-out: one hidden iframe per app with a front-channel logout URI that
/// took part in the session (the session is already over when this renders), and one per SAML
/// app told over the front channel, all loading at once; then on to `next` after a bounded
/// wait, so an SP that never answers holds up no other. The CSP allows framing exactly those
/// apps' origins. With no frame to load and somewhere to go, a 303 there instead of the page.
pub(crate) async fn signed_out(
    state: &AppState,
    org: &Org,
    sid: Option<SessionId>,
    next: Option<&str>,
    clear_cookie: bool,
) -> HttpResponse {
    let (frames, origins) = match sid {
        Some(sid) => front_channel(state, org, sid).await,
        None => (Vec::new(), Vec::new()),
    };
    let cookies = if clear_cookie {
        vec![clear_session_cookie(state, org)]
    } else {
        Vec::new()
    };
    // No front-channel frame to load: straight on to the app (RP-Initiated Logout §3), no
    // page in between.
    if let (true, Some(next)) = (frames.is_empty(), next) {
        return see_other(next, cookies);
    }
    let saml = frames.iter().any(|f| f.starts_with('/'));
    let page = SignedOutPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        delay: match (frames.is_empty(), saml) {
            (true, _) => 0,
            (false, false) => FRONTCHANNEL_WAIT_SECS,
            (false, true) => SAML_FRONTCHANNEL_WAIT_SECS,
        },
        frames,
        next,
    };
    let mut res = render(StatusCode::OK, &page, cookies);
    if !origins.is_empty()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{CONTENT_SECURITY_POLICY}; frame-src {}",
            origins.join(" ")
        ))
    {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    email: &'a str,
}

async fn logout_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    MaybeSession(current): MaybeSession,
) -> Page {
    logout_confirmation(&req, &state, &org.0, current).await
}

/// "Sign out of {org}?" with a CSRF-protected form (also what RP-initiated logout shows when it
/// cannot trust the request).
async fn logout_confirmation(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    current: Option<Session>,
) -> Page {
    let Some(session) = current else {
        return Ok(message(
            org,
            StatusCode::OK,
            "Signed out",
            "You are not signed in.",
            Some((format!("{}{LOGIN_PATH}", org_path(org)), "Sign in")),
        ));
    };
    let user = state
        .accounts
        .user(org, session.user_id)
        .await
        .or_unavailable(org)?;
    let email = user
        .map(|u| u.email.as_str().to_owned())
        .unwrap_or_default();
    let (csrf, set) = csrf_token(req, state, org);
    let page = LogoutPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        email: &email,
    };
    Ok(render(StatusCode::OK, &page, set))
}

async fn logout_submit(
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(_, MaybeSession(current)): Checked<TokenOnly, MaybeSession>,
) -> Page {
    let org = org.0;
    let ended = current.as_ref().map(|s| s.id);
    if let Some(s) = current {
        let actor = format!("user:{}", s.user_id);
        match state
            .sessions
            .end(org.id, s.id, EndReason::Logout, &actor)
            .await
        {
            // Ended meanwhile (another tab, a revocation): signed out all the same.
            Ok(_) | Err(SessionError::NotFound) => {}
            Err(e) => return Err(PageError::failure(&org, &e)),
        }
    }
    // Apps with a front-channel logout URI are told through iframes on the signed-out page.
    Ok(signed_out(&state, &org, ended, None, true).await)
}

async fn end_session(req: &HttpRequest, state: &AppState, org: &Org, p: &EndSessionParams) -> Page {
    match state.slo.end_session(org, p).await.or_unavailable(org)? {
        EndSessionDecision::SignedOut { sid, redirect } => {
            // The browser's cookie goes unless it holds another, live session. The session has
            // ended already: a failed look-up here clears the cookie (the safe side) rather
            // than failing a sign-out that happened.
            let current = session_of(req, state, org).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "end-session: the browser's session look-up failed");
                None
            });
            let clear = current.is_none_or(|s| s.id == sid);
            Ok(signed_out(state, org, Some(sid), redirect.as_deref(), clear).await)
        }
        EndSessionDecision::Confirm => {
            let current = session_of(req, state, org).await.or_unavailable(org)?;
            logout_confirmation(req, state, org, current).await
        }
    }
}

async fn end_session_get(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<EndSessionParams>,
) -> Page {
    end_session(&req, &state, &org.0, &q).await
}

/// RP-Initiated Logout 1.0 §2 also allows a form POST.
async fn end_session_post(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<EndSessionParams>,
) -> Page {
    end_session(&req, &state, &org.0, &form).await
}
