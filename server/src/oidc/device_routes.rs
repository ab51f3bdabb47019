//! The device authorization grant's endpoints (RFC 8628): `POST /device_authorization` for
//! the device, and the user's page `/o/{org}/device` (signed in; type the code, see the app
//! and its scopes, approve or deny). The token endpoint's side is in `oidc/routes.rs`.

use super::device::{display_user_code, normalise_user_code};
use super::routes::{client_auth, form, json_no_store, public_client_throttled, token_error};
use super::{DeviceAnswer, OidcError, OidcErrorCode, SessionStep};
use crate::http::extract::{Checked, CurrentSession};
use crate::http::pages::{client_ip, csrf_token, message, org_path, render, with_retry_after};
use crate::http::{CurrentOrg, OrUnavailable, PageError};
use crate::limits::{Limit, limit_subject, local_share};
use crate::sessions::Session;
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
pub const DEVICE_PATH: &str = "/device";

/// User codes are short (2^34.6): each typed code counts, before it is looked up, per user
/// and per client IP (an IPv6 /64), in 10-minute windows. Looking a code up and answering
/// it count one each, so a user connects 5 devices per window.
const CODE_TRIES_PER_USER: Limit = Limit {
    kind: "device-code-user",
    per_window: 10,
    local_per_window: local_share(10),
    window_secs: 600,
};
const CODE_TRIES_PER_IP: Limit = Limit {
    kind: "device-code-ip",
    per_window: 30,
    local_per_window: local_share(30),
    window_secs: 600,
};

type Page = Result<HttpResponse, PageError>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        DEVICE_AUTHORIZATION_PATH,
        web::post().to(device_authorization),
    )
    .route(DEVICE_PATH, web::get().to(device_page))
    .route(DEVICE_PATH, web::post().to(device_submit));
}

/// RFC 8628 §3.1–3.2: client authentication as at the token endpoint, then the codes.
async fn device_authorization(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let org = org.0;
    let issuer = state.oidc.issuer(&org);
    let Some(f) = form(&req, &body) else {
        let e = OidcError::new(
            OidcErrorCode::InvalidRequest,
            "the body must be a form with each parameter once",
        );
        return token_error(&issuer, &e);
    };
    let scope = f.get("scope").map(String::as_str);
    let auth = client_auth(&req, &f);
    if let Some(res) = public_client_throttled(&req, &state, &org, &auth).await {
        return res;
    }
    match state.oidc.device_authorization(&org, &auth, scope).await {
        Ok(answer) => json_no_store(
            StatusCode::OK,
            &serde_json::to_value(&answer).unwrap_or_default(),
        ),
        Err(e) => token_error(&issuer, &e),
    }
}

#[derive(askama::Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
    /// The app's name and what its scopes mean, once the code is recognised.
    confirm: Option<(&'a str, Vec<&'static str>)>,
}

fn device_form(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    user_code: &str,
    error: Option<&str>,
    confirm: Option<(&str, Vec<&'static str>)>,
) -> HttpResponse {
    let (csrf, set) = csrf_token(req, state, org);
    let page = DevicePage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        user_code,
        error,
        confirm,
    };
    render(StatusCode::OK, &page, set)
}

#[derive(Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

/// The code form, prefilled from `verification_uri_complete`. Nothing is looked up (or
/// approved) by opening a link: the user confirms the code on the next page.
async fn device_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<DeviceQuery>,
    _session: CurrentSession,
) -> HttpResponse {
    let prefill = q
        .user_code
        .as_deref()
        .and_then(normalise_user_code)
        .map(|c| display_user_code(&c))
        .unwrap_or_default();
    device_form(&req, &state, &org.0, &prefill, None, None)
}

#[derive(Deserialize)]
struct DeviceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
    /// `approve` or `deny`; absent on the code form.
    #[serde(default)]
    decision: Option<String>,
}

crate::csrf_forms!(DeviceForm);

const NOT_RECOGNISED: &str = "That code was not recognised. Check the code on your device and try again; codes expire after 10 minutes.";

/// The code typed (look it up, show the app) or the answer given (approve or deny).
async fn device_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(form, CurrentSession(session)): Checked<DeviceForm, CurrentSession>,
) -> Page {
    let org = org.0;
    if let Some(refused) = throttled(&req, &state, &org, &session).await {
        return Ok(refused);
    }
    let answer = match form.decision.as_deref() {
        Some("approve") => Some(true),
        Some("deny") => Some(false),
        _ => None,
    };
    let outcome = state
        .oidc
        .device_request(&org, &form.user_code, &session, answer)
        .await
        .or_unavailable(&org)?;
    Ok(match outcome {
        DeviceAnswer::NotRecognised => {
            let typed = form.user_code.chars().take(16).collect::<String>();
            device_form(&req, &state, &org, &typed, Some(NOT_RECOGNISED), None)
        }
        DeviceAnswer::Confirm {
            app_name,
            scopes,
            user_code,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| super::routes::scope_text(s))
                .collect();
            device_form(
                &req,
                &state,
                &org,
                &user_code,
                None,
                Some((&app_name, scopes)),
            )
        }
        DeviceAnswer::SessionTooWeak { app_name, step } => {
            session_step(&org, &app_name, step, &form.user_code)
        }
        DeviceAnswer::Approved { app_name } => message(
            &org,
            StatusCode::OK,
            "Device connected",
            &format!("{app_name} is signing you in on your device. You can close this page."),
            None,
        ),
        DeviceAnswer::Denied { app_name } => message(
            &org,
            StatusCode::OK,
            "Request denied",
            &format!("{app_name} will not be signed in on that device."),
            None,
        ),
    })
}

/// Counts this try against the user's and the client's allowance; the refusal page once over.
async fn throttled(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    session: &Session,
) -> Option<HttpResponse> {
    let ip = limit_subject(&client_ip(req, state));
    let user = session.user_id.to_string();
    let limits = &state.limits;
    let over = match limits.hit(org.id, &CODE_TRIES_PER_USER, &user).await {
        Err(limited) => Some(limited),
        Ok(()) => limits.hit(org.id, &CODE_TRIES_PER_IP, &ip).await.err(),
    }?;
    let page = message(
        org,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many tries",
        "Too many device codes were entered. Please wait a few minutes and try again.",
        None,
    );
    Some(with_retry_after(page, over.retry_after))
}

/// The app's session rules are not met: the step to take, back to this code afterwards.
fn session_step(org: &Org, app_name: &str, step: SessionStep, typed: &str) -> HttpResponse {
    let base = org_path(org);
    let code = normalise_user_code(typed)
        .map(|c| display_user_code(&c))
        .unwrap_or_default();
    let back = format!(
        "{base}{DEVICE_PATH}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", &code)
            .finish()
    );
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let (text, link, label) = match step {
        SessionStep::SignInAgain => (
            format!("{app_name} needs a recent sign-in. Sign in again, then confirm the code."),
            format!("{base}/login?reauth=1&return_to={back}"),
            "Sign in again",
        ),
        SessionStep::StepUp => (
            format!(
                "{app_name} needs a second factor. Confirm with your security key, then confirm the code."
            ),
            format!("{base}/login/step-up?return_to={back}"),
            "Use your security key",
        ),
    };
    message(
        org,
        StatusCode::FORBIDDEN,
        "One more step",
        &text,
        Some((link, label)),
    )
}
