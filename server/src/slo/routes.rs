//! RP-initiated logout (`end_session_endpoint`) and the signed-out page that carries the
//! front-channel logout iframes.

use super::service::{EndSessionDecision, EndSessionParams};
use crate::app::AppState;
use crate::http::CurrentOrg;
use crate::http::headers::CONTENT_SECURITY_POLICY;
use crate::http::pages::{clear_session_cookie, org_path, render, session_token};
use crate::sessions::SessionId;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const END_SESSION_PATH: &str = "/end-session";
/// Seconds the signed-out page waits for front-channel iframes before moving on.
const FRONTCHANNEL_WAIT_SECS: u32 = 2;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(END_SESSION_PATH, web::get().to(end_session_get))
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

/// The page after a sign-out: one hidden iframe per app with a front-channel logout URI that
/// took part in the session (the session is already over when this renders), then on to
/// `next` after a bounded wait. The CSP allows framing exactly those apps' origins.
pub(crate) async fn signed_out(
    state: &AppState,
    org: &Org,
    sid: Option<SessionId>,
    next: Option<&str>,
    clear_cookie: bool,
) -> HttpResponse {
    let frames = match sid {
        Some(sid) => state
            .slo
            .frontchannel_urls(org, sid)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "front-channel logout URLs unavailable");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let origins: Vec<String> = frames
        .iter()
        .filter_map(|f| url::Url::parse(f).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    let page = SignedOutPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        delay: if frames.is_empty() {
            0
        } else {
            FRONTCHANNEL_WAIT_SECS
        },
        frames,
        next,
    };
    let cookies = if clear_cookie {
        vec![clear_session_cookie(state, org)]
    } else {
        Vec::new()
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

async fn end_session(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    p: &EndSessionParams,
) -> HttpResponse {
    match state.slo.end_session(org, p).await {
        Ok(EndSessionDecision::SignedOut { sid, redirect }) => {
            // The browser's cookie goes when it belonged to the session that ended.
            let current = match session_token(req) {
                Some(t) => state.sessions.current(org.id, &t).await.ok().flatten(),
                None => None,
            };
            let clear = current.is_none_or(|s| s.id == sid);
            signed_out(state, org, Some(sid), redirect.as_deref(), clear).await
        }
        Ok(EndSessionDecision::Confirm) => {
            crate::authn::routes::logout_confirmation(req, state, org).await
        }
        Err(e) => crate::authn::routes::unavailable(org, &e),
    }
}

async fn end_session_get(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<EndSessionParams>,
) -> HttpResponse {
    end_session(&req, &state, &org.0, &q).await
}

/// RP-Initiated Logout 1.0 §2 also allows a form POST.
async fn end_session_post(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<EndSessionParams>,
) -> HttpResponse {
    end_session(&req, &state, &org.0, &form).await
}
