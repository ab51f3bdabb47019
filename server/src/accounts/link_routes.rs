//! Hosted pages behind the links we email, and the forms that send them: sign-up
//! (`/signup`, `/verify-email`), password reset (`/password/forgot`, `/password/reset`),
//! `/invitation` and `/email/confirm` under `/o/{org}`. A link's GET only shows a page; the
//! change happens on the page's POST, so a mail scanner that follows links uses nothing up.

use super::{AccountError, LinkPurpose, ResetOutcome, SignUp};
use crate::http::extract::{Checked, CsrfForm, MaybeSession};
use crate::http::pages::{
    ACCOUNT_PATH, LOGIN_PATH, client_ip, csrf_token, message, org_path, render, see_other,
};
use crate::http::{CurrentOrg, OrUnavailable, PageError};
use crate::state::AppState;
use crate::tenancy::{Org, SignupMode};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// Forgot-password, sign-up and "send a new link" answer no sooner than this after the
/// request came in, so the database writes a known address costs do not show in the timing.
pub const ANSWER_FLOOR: Duration = Duration::from_millis(400);

/// The page handlers' result.
type Page = Result<HttpResponse, PageError>;

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
        .route("/email/confirm", web::post().to(email_change_submit))
        .route("/password/forgot", web::get().to(forgot_page))
        .route("/password/forgot", web::post().to(forgot_submit))
        .route("/password/reset", web::get().to(reset_page))
        .route("/password/reset", web::post().to(reset_submit));
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
    form: CsrfForm<SignupForm>,
) -> Page {
    let started = Instant::now();
    let org = org.0;
    if org.signup.mode != SignupMode::Open {
        return Ok(render_signup(
            &req,
            &state,
            &org,
            StatusCode::FORBIDDEN,
            false,
            None,
            "",
            "",
        ));
    }
    let ip = client_ip(&req, &state);
    if !state
        .email
        .within_quota(org.id, "signup-ip", &ip, super::SIGNUPS_PER_IP_PER_HOUR)
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
        return Ok(res);
    }
    let attempt = SignUp {
        email: &form.email,
        name: Some(&form.name),
        password: &form.password,
    };
    let result = state.accounts.sign_up(&org, attempt).await;
    pad(started).await;
    Ok(match result {
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
        Err(e) => return Err(PageError::failure(&org, &e)),
    })
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
    form: CsrfForm<EmailForm>,
) -> Page {
    let started = Instant::now();
    let org = org.0;
    let result = state
        .accounts
        .resend_verification(&org, &form.email, &client_ip(&req, &state))
        .await;
    pad(started).await;
    result.or_unavailable(&org)?;
    Ok(message(
        &org,
        StatusCode::OK,
        "Check your email",
        "If this address has an account waiting for confirmation, we sent it a new link. It works once, within 24 hours; older links stop working.",
        Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Back to sign-in")),
    ))
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
) -> Page {
    let Some(email) = state
        .accounts
        .verification_address(org, token)
        .await
        .or_unavailable(org)?
    else {
        return Ok(invalid_link(org));
    };
    let text = format!(
        "Confirm that {email} is your address: enter the password you chose when you signed up."
    );
    let c = Confirm {
        text: &text,
        ..VERIFY
    };
    Ok(confirm_page(req, state, org, token, &c, status, error))
}

async fn verify_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Page {
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

crate::csrf_forms!(
    SignupForm, EmailForm, VerifyForm, TokenForm, ResetForm, ForgotForm
);

async fn verify_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<VerifyForm>,
) -> Page {
    let org = org.0;
    let outcome = state
        .accounts
        .verify_email(&org, &form.token, &form.password)
        .await
        .or_unavailable(&org)?;
    Ok(match outcome {
        ResetOutcome::Done => message(
            &org,
            StatusCode::OK,
            "Address confirmed",
            "Thank you: your email address is confirmed and your account is ready. You can sign in now.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        ResetOutcome::WrongPassword => {
            return render_verify(
                &req,
                &state,
                &org,
                &form.token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("That is not the password chosen at sign-up. If someone else signed up with your address, ignore this link and sign up yourself: you will get a link to set up the account."),
            )
            .await;
        }
        ResetOutcome::AddressTaken => message(
            &org,
            StatusCode::CONFLICT,
            "This address already has an account",
            "Sign in with it, or reset its password if you forgot it.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        // The link's holder may not guess the sign-up password without end.
        ResetOutcome::TooManyAttempts => message(
            &org,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "This link was tried too many times. Sign up again to get a new one.",
            None,
        ),
        _ => invalid_link(&org),
    })
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
) -> Page {
    let invited = state
        .accounts
        .invitation(org, token)
        .await
        .or_unavailable(org)?;
    let Some((_, user)) = invited else {
        return Ok(invalid_link(org));
    };
    let email = user.email.as_str();
    let (csrf, set) = csrf_token(req, state, org);
    let page = InvitationPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        token,
        email,
        error,
    };
    Ok(render(status, &page, set))
}

async fn invitation_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Page {
    render_invitation(&req, &state, &org.0, &q.token, StatusCode::OK, None).await
}

async fn invitation_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<ResetForm>,
) -> Page {
    let org = org.0;
    let accepted = state
        .accounts
        .accept_invitation(&org, &form.token, &form.new_password)
        .await;
    Ok(match accepted {
        Ok(ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Your account is ready",
            "Your password is set. Sign in with it now.",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        Ok(_) => invalid_link(&org),
        Err(AccountError::InvalidPassword(e)) => {
            return render_invitation(
                &req,
                &state,
                &org,
                &form.token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&e.to_string()),
            )
            .await;
        }
        Err(e) => return Err(PageError::failure(&org, &e)),
    })
}

/// The email change link must be used by its account, signed in: otherwise someone could send
/// a victim a link that moves the victim's address onto the sender's account. Not signed in (or
/// as someone else): to the sign-in page, back here after.
async fn email_change_link(
    state: &AppState,
    org: &Org,
    current: Option<&crate::sessions::Session>,
    token: &str,
) -> Result<Result<super::EmailLink, HttpResponse>, PageError> {
    let link = state
        .accounts
        .link(org, token, LinkPurpose::EmailChange)
        .await
        .or_unavailable(org)?;
    let Some(link) = link else {
        return Ok(Err(invalid_link(org)));
    };
    if current.is_none_or(|s| s.user_id != link.user_id) {
        let back = format!("{}/email/confirm?token={token}", org_path(org));
        let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        return Ok(Err(see_other(
            &format!("{}{LOGIN_PATH}?reauth=1&return_to={back}", org_path(org)),
            [],
        )));
    }
    Ok(Ok(link))
}

async fn email_change_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
    MaybeSession(current): MaybeSession,
) -> Page {
    let org = org.0;
    let link = match email_change_link(&state, &org, current.as_ref(), &q.token).await? {
        Ok(l) => l,
        Err(res) => return Ok(res),
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
    Ok(confirm_page(
        &req,
        &state,
        &org,
        &q.token,
        &c,
        StatusCode::OK,
        None,
    ))
}

async fn email_change_submit(
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(form, MaybeSession(current)): Checked<TokenForm, MaybeSession>,
) -> Page {
    let org = org.0;
    if let Err(res) = email_change_link(&state, &org, current.as_ref(), &form.token).await? {
        return Ok(res);
    }
    let changed = state
        .accounts
        .confirm_email_change(&org, &form.token)
        .await
        .or_unavailable(&org)?;
    Ok(match changed {
        ResetOutcome::Done => message(
            &org,
            StatusCode::OK,
            "Email address changed",
            "Your account uses the new address from now on; sign in with it. We told the old address about the change.",
            Some((format!("{}{ACCOUNT_PATH}", org_path(&org)), "Your account")),
        ),
        ResetOutcome::AddressTaken => message(
            &org,
            StatusCode::CONFLICT,
            "Address already in use",
            "Another account uses this address, so yours keeps its current one. Nothing changed.",
            None,
        ),
        _ => invalid_link(&org),
    })
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    sent: bool,
}

async fn forgot_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    let org = org.0;
    let (csrf, set) = csrf_token(&req, &state, &org);
    let page = ForgotPage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        sent: false,
    };
    render(StatusCode::OK, &page, set)
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

/// The same answer whether or not the email belongs to an account (no enumeration), after the
/// same minimum time.
async fn forgot_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<ForgotForm>,
) -> Page {
    let started = std::time::Instant::now();
    let org = org.0;
    let result = state
        .accounts
        .request_password_reset(&org, &form.email, &client_ip(&req, &state))
        .await;
    pad(started).await;
    result.or_unavailable(&org)?;
    let (csrf, set) = csrf_token(&req, &state, &org);
    let page = ForgotPage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        sent: true,
    };
    Ok(render(StatusCode::OK, &page, set))
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    token: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct ResetQuery {
    #[serde(default)]
    token: String,
}

fn invalid_reset_link(org: &Org) -> HttpResponse {
    message(
        org,
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "The link was used already, a newer one was sent, or it expired. Ask for a new one.",
        Some((
            format!("{}/password/forgot", org_path(org)),
            "Ask for a new link",
        )),
    )
}

async fn reset_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ResetQuery>,
) -> Page {
    let org = org.0;
    let valid = state
        .accounts
        .reset_link_valid(&org, &q.token)
        .await
        .or_unavailable(&org)?;
    if !valid {
        return Ok(invalid_reset_link(&org));
    }
    let (csrf, set) = csrf_token(&req, &state, &org);
    let page = ResetPage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        token: &q.token,
        error: None,
    };
    Ok(render(StatusCode::OK, &page, set))
}

/// A link's token and the new password (reset and invitation pages).
#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    csrf: String,
}

async fn reset_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: CsrfForm<ResetForm>,
) -> Page {
    let org = org.0;
    let reset = state
        .accounts
        .reset_password(&org, &form.token, &form.new_password)
        .await;
    Ok(match reset {
        Ok(crate::accounts::ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Password changed",
            "Your password is changed and you were signed out everywhere. Sign in with the new password (and your security key, if you have one).",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        Ok(_) => invalid_reset_link(&org),
        Err(AccountError::InvalidPassword(e)) => {
            let (csrf, set) = csrf_token(&req, &state, &org);
            let text = e.to_string();
            let page = ResetPage {
                org_name: &org.name,
                org_path: org_path(&org),
                logo_url: org.branding.logo_url.as_deref(),
                csrf: &csrf,
                token: &form.token,
                error: Some(&text),
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page, set)
        }
        Err(e) => return Err(PageError::failure(&org, &e)),
    })
}
