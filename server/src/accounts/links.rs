//! Hosted pages behind the links we email, and sign-up: `/signup`, `/verify-email`,
//! `/invitation` and `/email/confirm` under `/o/{org}`. A link's GET only shows a page; the
//! change happens on the page's POST, so a mail scanner that follows links uses nothing up.

use super::{AccountError, ResetOutcome, SignUp};
use crate::app::AppState;
use crate::authn::routes::{ACCOUNT_PATH, LOGIN_PATH, csrf_refused, message, unavailable};
use crate::http::CurrentOrg;
use crate::http::pages::{csrf_ok, csrf_token, org_path, render};
use crate::store::LinkPurpose;
use crate::tenancy::{Org, SignupMode};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// Forgot-password, sign-up and "send a new link" answer no sooner than this after the
/// request came in, so the database writes a known address costs do not show in the timing.
pub const ANSWER_FLOOR: Duration = Duration::from_millis(400);

/// Sign-ups accepted per client IP and org per hour (each costs a password hash); more get a
/// "try later" page, which says nothing about any account.
pub const SIGNUPS_PER_IP_PER_HOUR: i64 = 20;

/// Tries (with a password) per verification link, counted on the link's row.
pub use super::service::VERIFY_ATTEMPTS_PER_LINK;

/// Waits until `ANSWER_FLOOR` has passed since `started`.
pub async fn pad(started: Instant) {
    if let Some(left) = ANSWER_FLOOR.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(signup_page))
        .route("/signup", web::post().to(signup_submit))
        .route("/verify-email", web::get().to(verify_page))
        .route("/verify-email", web::post().to(verify_submit))
        .route("/verify-email/resend", web::post().to(resend_submit))
        .route("/invitation", web::get().to(invitation_page))
        .route("/invitation", web::post().to(invitation_submit))
        .route("/email/confirm", web::get().to(email_change_page))
        .route("/email/confirm", web::post().to(email_change_submit));
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    open: bool,
    invite_only: bool,
    require_verified: bool,
    sent: bool,
    error: Option<&'a str>,
    name: &'a str,
    email: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn render_signup(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    status: StatusCode,
    sent: bool,
    error: Option<&str>,
    name: &str,
    email: &str,
) -> HttpResponse {
    let (csrf, set) = csrf_token(req, state, org);
    let page = SignupPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        open: org.signup.mode == SignupMode::Open,
        invite_only: org.signup.mode == SignupMode::InviteOnly,
        require_verified: org.signup.require_verified_email,
        sent,
        error,
        name,
        email,
    };
    render(status, &page, set)
}

async fn signup_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    let org = org.0;
    let status = if org.signup.mode == SignupMode::Open {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    render_signup(&req, &state, &org, status, false, None, "", "")
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// The same answer whether or not the address has an account (no enumeration), after the
/// same minimum time.
async fn signup_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> HttpResponse {
    let started = Instant::now();
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    if org.signup.mode != SignupMode::Open {
        return render_signup(
            &req,
            &state,
            &org,
            StatusCode::FORBIDDEN,
            false,
            None,
            "",
            "",
        );
    }
    let ip = crate::http::pages::client_ip(&req, &state);
    if !state
        .email
        .within_quota(org.id, "signup-ip", &ip, SIGNUPS_PER_IP_PER_HOUR)
        .await
    {
        let mut res = message(
            &org,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups",
            "Too many accounts were requested from your network. Please try again in an hour.",
            None,
        );
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("3600"),
        );
        return res;
    }
    let attempt = SignUp {
        email: &form.email,
        name: Some(&form.name),
        password: &form.password,
    };
    let result = state.accounts.sign_up(&org, attempt).await;
    pad(started).await;
    match result {
        Ok(()) => render_signup(
            &req,
            &state,
            &org,
            StatusCode::OK,
            true,
            None,
            "",
            form.email.trim(),
        ),
        Err(
            e @ (AccountError::InvalidEmail(_)
            | AccountError::InvalidPassword(_)
            | AccountError::InvalidName),
        ) => render_signup(
            &req,
            &state,
            &org,
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            Some(&e.to_string()),
            &form.name,
            &form.email,
        ),
        Err(e) => unavailable(&org, &e),
    }
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
pub(crate) fn unverified_page(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    email: &str,
) -> HttpResponse {
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

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn resend_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<EmailForm>,
) -> HttpResponse {
    let started = Instant::now();
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    let result = state
        .accounts
        .resend_verification(
            &org,
            &form.email,
            &crate::http::pages::client_ip(&req, &state),
        )
        .await;
    pad(started).await;
    match result {
        Ok(()) => message(
            &org,
            StatusCode::OK,
            "Check your email",
            "If this address has an account waiting for confirmation, we sent it a new link. It works once, within 24 hours; older links stop working.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Back to sign-in")),
        ),
        Err(e) => unavailable(&org, &e),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "link_confirm.html")]
struct ConfirmPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    token: &'a str,
    title: &'a str,
    text: &'a str,
    action: &'a str,
    button: &'a str,
    /// Ask for the password chosen at sign-up (address verification).
    password: bool,
    error: Option<&'a str>,
}

fn invalid_link(org: &Org) -> HttpResponse {
    message(
        org,
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "The link was used already, a newer one was sent, or it expired.",
        Some((format!("{}{LOGIN_PATH}", org_path(org)), "Go to sign-in")),
    )
}

/// What a link's confirmation page says and does.
struct Confirm<'a> {
    title: &'a str,
    text: &'a str,
    action: &'a str,
    button: &'a str,
    password: bool,
}

fn confirm_page(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    token: &str,
    c: &Confirm<'_>,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, set) = csrf_token(req, state, org);
    let page = ConfirmPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        token,
        title: c.title,
        text: c.text,
        action: c.action,
        button: c.button,
        password: c.password,
        error,
    };
    render(status, &page, set)
}

const VERIFY: Confirm<'static> = Confirm {
    title: "Confirm your email address",
    text: "",
    action: "/verify-email",
    button: "Confirm",
    password: true,
};

async fn render_verify(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let email = match state.accounts.verification_address(org, token).await {
        Ok(Some(e)) => e,
        Ok(None) => return invalid_link(org),
        Err(e) => return unavailable(org, &e),
    };
    let text = format!(
        "Confirm that {email} is your address: enter the password you chose when you signed up."
    );
    let c = Confirm {
        text: &text,
        ..VERIFY
    };
    confirm_page(req, state, org, token, &c, status, error)
}

async fn verify_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> HttpResponse {
    render_verify(&req, &state, &org.0, &q.token, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn verify_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<VerifyForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    match state
        .accounts
        .verify_email(&org, &form.token, &form.password)
        .await
    {
        Ok(ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Address confirmed",
            "Thank you: your email address is confirmed and your account is ready. You can sign in now.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        Ok(ResetOutcome::WrongPassword) => {
            render_verify(
                &req,
                &state,
                &org,
                &form.token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("That is not the password chosen at sign-up. If someone else signed up with your address, ignore this link and sign up yourself: you will get a link to set up the account."),
            )
            .await
        }
        Ok(ResetOutcome::AddressTaken) => message(
            &org,
            StatusCode::CONFLICT,
            "This address already has an account",
            "Sign in with it, or reset its password if you forgot it.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        // The link's holder may not guess the sign-up password without end.
        Ok(ResetOutcome::TooManyAttempts) => message(
            &org,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "This link was tried too many times. Sign up again to get a new one.",
            None,
        ),
        Ok(_) => invalid_link(&org),
        Err(e) => unavailable(&org, &e),
    }
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

async fn render_invitation(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    token: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let link = match state
        .accounts
        .link(org, token, LinkPurpose::Invitation)
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return invalid_link(org),
        Err(e) => return unavailable(org, &e),
    };
    let email = match state.store.user_by_id(org.id, link.user_id).await {
        Ok(Some(u)) => u.email.as_str().to_owned(),
        Ok(None) => return invalid_link(org),
        Err(e) => return unavailable(org, &e),
    };
    let (csrf, set) = csrf_token(req, state, org);
    let page = InvitationPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        token,
        email: &email,
        error,
    };
    render(status, &page, set)
}

async fn invitation_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> HttpResponse {
    render_invitation(&req, &state, &org.0, &q.token, StatusCode::OK, None).await
}

async fn invitation_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<crate::authn::routes::ResetForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    match state
        .accounts
        .accept_invitation(&org, &form.token, &form.new_password)
        .await
    {
        Ok(ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Your account is ready",
            "Your password is set. Sign in with it now.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        Ok(_) => invalid_link(&org),
        Err(AccountError::InvalidPassword(e)) => {
            render_invitation(
                &req,
                &state,
                &org,
                &form.token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => unavailable(&org, &e),
    }
}

/// The email change link must be used by its account, signed in: otherwise someone could send
/// a victim a link that moves the victim's address onto the sender's account. Not signed in (or
/// as someone else): to the sign-in page, back here after.
async fn email_change_link(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    token: &str,
) -> Result<crate::store::EmailLink, HttpResponse> {
    let link = match state
        .accounts
        .link(org, token, LinkPurpose::EmailChange)
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Err(invalid_link(org)),
        Err(e) => return Err(unavailable(org, &e)),
    };
    let current = match crate::http::pages::session_token(req) {
        Some(t) => match state.sessions.current(org.id, &t).await {
            Ok(s) => s,
            Err(e) => return Err(unavailable(org, &e)),
        },
        None => None,
    };
    if current.is_none_or(|s| s.user_id != link.user_id) {
        let back = format!("{}/email/confirm?token={token}", org_path(org));
        let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        return Err(crate::http::pages::see_other(
            &format!("{}{LOGIN_PATH}?reauth=1&return_to={back}", org_path(org)),
            [],
        ));
    }
    Ok(link)
}

async fn email_change_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> HttpResponse {
    let org = org.0;
    let link = match email_change_link(&req, &state, &org, &q.token).await {
        Ok(l) => l,
        Err(res) => return res,
    };
    let text = format!(
        "Use {} to sign in to {} from now on?",
        link.new_email.as_deref().unwrap_or_default(),
        org.name
    );
    let c = Confirm {
        title: "Confirm your new email address",
        text: &text,
        action: "/email/confirm",
        button: "Use this address",
        password: false,
    };
    confirm_page(&req, &state, &org, &q.token, &c, StatusCode::OK, None)
}

async fn email_change_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    if let Err(res) = email_change_link(&req, &state, &org, &form.token).await {
        return res;
    }
    match state.accounts.confirm_email_change(&org, &form.token).await {
        Ok(ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Email address changed",
            "Your account uses the new address from now on; sign in with it. We told the old address about the change.",
            Some((format!("{}{ACCOUNT_PATH}", org_path(&org)), "Your account")),
        ),
        Ok(ResetOutcome::AddressTaken) => message(
            &org,
            StatusCode::CONFLICT,
            "Address already in use",
            "Another account uses this address, so yours keeps its current one. Nothing changed.",
            None,
        ),
        Ok(_) => invalid_link(&org),
        Err(e) => unavailable(&org, &e),
    }
}
