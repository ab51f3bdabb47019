//! Hosted sign-in pages under `/o/{org}` (password, recovery code), plus the stylesheets and
//! script they use. The WebAuthn ceremonies are in `webauthn_routes`, signing out in
//! `slo::routes`, the emailed-link pages in `accounts::link_routes`.

use super::{LoginAttempt, LoginOutcome};
use crate::http::extract::{CsrfForm, session_of};
use crate::http::pages::{
    ACCOUNT_PATH, LOGIN_PATH, MessagePage, client_ip, csrf_token, org_path, render, see_other,
    with_retry_after,
};
use crate::http::signin::{
    clear_pending_cookie, encode, new_session_cookie, pending_cookie, pending_token, safe_return_to,
};
use crate::http::{CurrentOrg, OrUnavailable, PageError};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

/// The page handlers' result.
type Page = Result<HttpResponse, PageError>;

/// Routes inside the `/o/{org}` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LOGIN_PATH, web::get().to(login_page))
        .route(LOGIN_PATH, web::post().to(login_submit))
        .route("/branding.css", web::get().to(branding_css))
        .route("/login/recovery", web::post().to(recovery_submit));
}

/// Routes outside any org.
pub fn configure_assets(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/portcullis.css", web::get().to(stylesheet))
        .route("/assets/webauthn.js", web::get().to(webauthn_script))
        // Browsers ask for it on every hosted page; answer quietly instead of with a 404.
        .route(
            "/favicon.ico",
            web::get().to(|| async { HttpResponse::NoContent().finish() }),
        );
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    return_to: &'a str,
    remember_me_allowed: bool,
    error: Option<&'a str>,
    /// Prefilled email: the app's `login_hint` (never echoed after a failure: the failure
    /// pages of known and unknown accounts stay identical).
    email: &'a str,
    /// The org lets people sign up: link to the sign-up page.
    signup: bool,
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    /// Set by /authorize when the app needs a fresh authentication (`max_age`, `prompt=login`,
    /// the app's re-authentication rule): the form shows even though the user is signed in.
    reauth: Option<String>,
    /// The app's OIDC `login_hint`: prefills the email field.
    login_hint: Option<String>,
}

async fn render_login(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    return_to: &str,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
) -> Page {
    let (csrf, set) = csrf_token(req, state, org);
    let policy = state.sessions.policy(org.id).await.or_unavailable(org)?;
    let remember_me_allowed = policy.remember_me_allowed;
    let page = LoginPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        return_to,
        remember_me_allowed,
        error,
        email,
        signup: org.signup.mode == crate::tenancy::SignupMode::Open,
    };
    Ok(render(status, &page, set))
}

async fn login_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<LoginQuery>,
) -> Page {
    let org = org.0;
    let return_to = safe_return_to(&org, q.return_to.as_deref());
    // Already signed in: straight on (unless the app asked for a fresh sign-in).
    if q.reauth.is_none()
        && session_of(&req, &state, &org)
            .await
            .or_unavailable(&org)?
            .is_some()
    {
        return Ok(see_other(&return_to, []));
    }
    let hint = q
        .login_hint
        .as_deref()
        .filter(|h| h.len() <= 254)
        .unwrap_or("");
    render_login(&req, &state, &org, &return_to, StatusCode::OK, None, hint).await
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: Option<String>,
}

async fn login_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<LoginForm>,
) -> Page {
    let org = org.0;
    let form = form.into_inner();
    let return_to = safe_return_to(&org, form.return_to.as_deref());
    // The session this sign-in replaces (and ends): a failed lookup must not start a second one.
    let current = session_of(&req, &state, &org).await.or_unavailable(&org)?;
    let attempt = LoginAttempt {
        email: &form.email,
        password: &form.password,
        remember_me: form.remember_me.is_some(),
        user_agent: user_agent(&req),
        ip: client_ip(&req, &state),
        app_requests_mfa: false,
        current,
    };
    let outcome = state.login.password_login(&org, attempt).await;
    let counted = outcome.as_ref().map_or("error", password_outcome);
    state.metrics.sign_in("password", counted);
    let outcome = outcome.or_unavailable(&org)?;
    // The form again, with what went wrong (never the email: known and unknown accounts'
    // pages stay identical).
    let again = |status, text: String, retry_after: Option<chrono::Duration>| {
        let (req, state, org, return_to) = (&req, &state, &org, &return_to);
        async move {
            let res = render_login(req, state, org, return_to, status, Some(&text), "").await?;
            Ok::<_, PageError>(match retry_after {
                Some(after) => with_retry_after(res, after),
                None => res,
            })
        }
    };
    match outcome {
        LoginOutcome::SignedIn { session, token, .. } => {
            let cookie = new_session_cookie(&req, &state, &org, &session, &token).await;
            Ok(see_other(&return_to, [cookie]))
        }
        LoginOutcome::SecondFactorRequired { pending_token } => {
            Ok(to_key_step(&state, &org, "key", &return_to, &pending_token))
        }
        LoginOutcome::EnrolmentRequired { pending_token } => Ok(to_key_step(
            &state,
            &org,
            "enrol",
            &return_to,
            &pending_token,
        )),
        LoginOutcome::EmailNotVerified => {
            Ok(unverified_page(&req, &state, &org, form.email.trim()))
        }
        LoginOutcome::InvalidCredentials => {
            let text = "The email or password is incorrect.".to_owned();
            again(StatusCode::UNAUTHORIZED, text, None).await
        }
        LoginOutcome::Throttled { retry_after } => {
            let minutes = (retry_after.num_seconds() + 59) / 60;
            let text = format!(
                "Too many sign-in attempts. Please wait {minutes} minute(s) and try again."
            );
            again(StatusCode::TOO_MANY_REQUESTS, text, Some(retry_after)).await
        }
        LoginOutcome::Busy { retry_after } => {
            let text = "Too many people are signing in right now. Please try again in a moment.";
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                text.to_owned(),
                Some(retry_after),
            )
            .await
        }
    }
}

/// A password sign-in's outcome as `portcullis_sign_ins_total` counts it.
fn password_outcome(outcome: &LoginOutcome) -> &'static str {
    match outcome {
        LoginOutcome::SignedIn { .. } => "signed_in",
        LoginOutcome::SecondFactorRequired { .. } => "second_factor",
        LoginOutcome::EnrolmentRequired { .. } => "enrolment",
        LoginOutcome::EmailNotVerified => "email_not_verified",
        LoginOutcome::InvalidCredentials => "invalid",
        LoginOutcome::Throttled { .. } => "throttled",
        LoginOutcome::Busy { .. } => "busy",
    }
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    let ua = req.headers().get("user-agent")?;
    ua.to_str().ok().map(str::to_owned)
}

/// On to the security key step (`key` or `enrol`) with the half-signed-in cookie.
fn to_key_step(
    state: &AppState,
    org: &Org,
    step: &str,
    return_to: &str,
    pending_token: &str,
) -> HttpResponse {
    let to = format!(
        "{}/login/{step}?return_to={}",
        org_path(org),
        encode(return_to)
    );
    see_other(&to, [pending_cookie(state, org, pending_token)])
}

#[derive(Template)]
#[template(path = "unverified.html")]
struct UnverifiedPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    email: &'a str,
}

/// Shown after a right password when the org requires a verified address and it is not.
fn unverified_page(req: &HttpRequest, state: &AppState, org: &Org, email: &str) -> HttpResponse {
    let (csrf, set) = csrf_token(req, state, org);
    let page = UnverifiedPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        email,
    };
    render(StatusCode::FORBIDDEN, &page, set)
}

async fn branding_css(org: CurrentOrg) -> HttpResponse {
    let accent = org.0.branding.accent();
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=60"))
        .body(format!(":root {{ --accent: {}; }}\n", accent.as_str()))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(include_str!("../../assets/portcullis.css"))
}

pub(crate) async fn webauthn_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(include_str!("../../assets/webauthn.js"))
}

#[derive(Deserialize)]
struct RecoveryForm {
    #[serde(default)]
    csrf: String,
    code: String,
}

async fn recovery_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<RecoveryForm>,
) -> Page {
    let org = org.0;
    let Some(pending) = pending_token(&req) else {
        return Ok(see_other(&format!("{}{LOGIN_PATH}", org_path(&org)), []));
    };
    let finished = state
        .webauthn
        .finish_with_recovery_code(&org, &pending, &form.code)
        .await;
    let counted = match &finished {
        Ok(_) => "signed_in",
        Err(
            crate::authn::webauthn::WebauthnFlowError::Rejected
            | crate::authn::webauthn::WebauthnFlowError::NoPendingLogin,
        ) => "invalid",
        Err(_) => "error",
    };
    state.metrics.sign_in("recovery_code", counted);
    Ok(match finished {
        Ok((session, token)) => {
            let cookie = new_session_cookie(&req, &state, &org, &session, &token).await;
            see_other(
                &format!("{}{ACCOUNT_PATH}?recovered=1", org_path(&org)),
                [cookie, clear_pending_cookie(&state, &org)],
            )
        }
        Err(
            crate::authn::webauthn::WebauthnFlowError::Rejected
            | crate::authn::webauthn::WebauthnFlowError::NoPendingLogin,
        ) => {
            let page = MessagePage {
                org_name: &org.name,
                org_path: org_path(&org),
                logo_url: org.branding.logo_url.as_deref(),
                title: "Code not accepted",
                message: "That recovery code is not valid or was already used. Enter your password again to retry.",
                link: Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
            };
            render(
                StatusCode::UNAUTHORIZED,
                &page,
                [clear_pending_cookie(&state, &org)],
            )
        }
        Err(e) => return Err(PageError::failure(&org, &e)),
    })
}

crate::csrf_forms!(LoginForm, RecoveryForm);
