//! Hosted sign-in and sign-out pages under `/o/{org}`, plus the stylesheets they use.

use super::{LoginAttempt, LoginOutcome};
use crate::app::AppState;
use crate::http::CurrentOrg;
use crate::http::pages::{
    clear_session_cookie, client_ip, csrf_ok, csrf_token, org_path, render, see_other,
    session_cookie, session_token,
};
use crate::sessions::EndReason;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub const LOGIN_PATH: &str = "/login";
pub const LOGOUT_PATH: &str = "/logout";
pub const ACCOUNT_PATH: &str = "/account";

/// Routes inside the `/o/{org}` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LOGIN_PATH, web::get().to(login_page))
        .route(LOGIN_PATH, web::post().to(login_submit))
        .route(LOGOUT_PATH, web::get().to(logout_page))
        .route(LOGOUT_PATH, web::post().to(logout_submit))
        .route("/branding.css", web::get().to(branding_css));
}

/// Routes outside any org.
pub fn configure_assets(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/portcullis.css", web::get().to(stylesheet));
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
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub org_name: &'a str,
    pub org_path: String,
    pub logo_url: Option<&'a str>,
    pub title: &'a str,
    pub message: &'a str,
    pub link: Option<(String, &'a str)>,
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

/// A page telling the user something, with an optional link.
pub(crate) fn message(
    org: &Org,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(String, &str)>,
) -> HttpResponse {
    let page = MessagePage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        title,
        message: text,
        link,
    };
    render(status, &page, [])
}

pub(crate) fn csrf_refused(org: &Org) -> HttpResponse {
    message(
        org,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is no longer valid (it may have been open too long, or come from another site). Go back, reload the page and try again.",
        Some((format!("{}{LOGIN_PATH}", org_path(org)), "Go to sign-in")),
    )
}

pub(crate) fn unavailable(org: &Org, err: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %err, "request failed");
    message(
        org,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "Something went wrong on our side. Please try again in a moment.",
        None,
    )
}

/// Only paths inside this org may be returned to (never another site: no open redirect).
fn safe_return_to(org: &Org, raw: Option<&str>) -> String {
    let base = org_path(org);
    match raw {
        Some(p)
            if p.starts_with(&format!("{base}/"))
                && !p.contains("//")
                && !p.contains('\\')
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_owned()
        }
        _ => format!("{base}{ACCOUNT_PATH}"),
    }
}

#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
}

async fn render_login(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    return_to: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, set) = csrf_token(req, state, org);
    let remember_me_allowed = match state.sessions.policy(org.id).await {
        Ok(p) => p.remember_me_allowed,
        Err(e) => return unavailable(org, &e),
    };
    let page = LoginPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        return_to,
        remember_me_allowed,
        error,
    };
    render(status, &page, set)
}

async fn login_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> HttpResponse {
    let org = org.0;
    let return_to = safe_return_to(&org, q.return_to.as_deref());
    // Already signed in: straight on.
    if let Some(token) = session_token(&req)
        && let Ok(Some(_)) = state.sessions.current(org.id, &token).await
    {
        return see_other(&return_to, []);
    }
    render_login(&req, &state, &org, &return_to, StatusCode::OK, None).await
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
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let org = org.0;
    let form = form.into_inner();
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    let return_to = safe_return_to(&org, form.return_to.as_deref());
    let attempt = LoginAttempt {
        email: &form.email,
        password: &form.password,
        remember_me: form.remember_me.is_some(),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip: client_ip(&req, &state),
    };
    match state.login.password_login(&org, attempt).await {
        Ok(LoginOutcome::SignedIn { session, token, .. }) => {
            let max_age = session
                .remember_me
                .then(|| (session.absolute_expiry - session.created_at).num_seconds());
            see_other(
                &return_to,
                [session_cookie(&state, &org, &token.0, max_age)],
            )
        }
        Ok(LoginOutcome::InvalidCredentials) => {
            render_login(
                &req,
                &state,
                &org,
                &return_to,
                StatusCode::UNAUTHORIZED,
                Some("The email or password is incorrect."),
            )
            .await
        }
        Ok(LoginOutcome::Throttled { retry_after }) => {
            let minutes = (retry_after.num_seconds() + 59) / 60;
            let text = format!(
                "Too many sign-in attempts. Please wait {minutes} minute(s) and try again."
            );
            let mut res = render_login(
                &req,
                &state,
                &org,
                &return_to,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&text),
            )
            .await;
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(
                &retry_after.num_seconds().max(1).to_string(),
            ) {
                res.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, v);
            }
            res
        }
        Err(e) => unavailable(&org, &e),
    }
}

async fn logout_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    let org = org.0;
    let session = match session_token(&req) {
        Some(t) => state.sessions.current(org.id, &t).await.ok().flatten(),
        None => None,
    };
    let Some(session) = session else {
        return message(
            &org,
            StatusCode::OK,
            "Signed out",
            "You are not signed in.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        );
    };
    let email = match state.store.user_by_id(org.id, session.user_id).await {
        Ok(Some(u)) => u.email.as_str().to_owned(),
        Ok(None) => String::new(),
        Err(e) => return unavailable(&org, &e),
    };
    let (csrf, set) = csrf_token(&req, &state, &org);
    let page = LogoutPage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        email: &email,
    };
    render(StatusCode::OK, &page, set)
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn logout_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    if let Some(token) = session_token(&req) {
        match state.sessions.current(org.id, &token).await {
            Ok(Some(s)) => {
                if let Err(e) = state
                    .sessions
                    .end(
                        org.id,
                        s.id,
                        EndReason::Logout,
                        &format!("user:{}", s.user_id),
                    )
                    .await
                {
                    return unavailable(&org, &e);
                }
            }
            Ok(None) => {}
            Err(e) => return unavailable(&org, &e),
        }
    }
    let page = MessagePage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        title: "Signed out",
        message: "You have signed out.",
        link: Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in again")),
    };
    render(StatusCode::OK, &page, [clear_session_cookie(&state, &org)])
}

async fn branding_css(org: CurrentOrg) -> HttpResponse {
    let accent = org
        .0
        .branding
        .accent_color
        .filter(|c| is_hex_colour(c))
        .unwrap_or_else(|| "#2f5bd3".into());
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=60"))
        .body(format!(":root {{ --accent: {accent}; }}\n"))
}

pub(crate) fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=3600"))
        .body(include_str!("../../assets/portcullis.css"))
}
