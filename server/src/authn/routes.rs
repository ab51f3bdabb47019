//! Hosted sign-in and sign-out pages under `/o/{org}`, plus the stylesheets they use.

use super::{LoginAttempt, LoginOutcome};
use crate::app::AppState;
use crate::http::CurrentOrg;
use crate::http::pages::{
    clear_session_cookie, client_ip, csrf_ok, csrf_token, org_path, render, see_other,
    session_cookie, session_token, with_retry_after,
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

/// WebAuthn ceremony starts (each keeps a 5-minute flow in the cache) per client IP, org and
/// minute (`security.ceremony_starts_per_ip_per_minute`, 30 by default); more get 429. The
/// sign-in page starts one per view (passkey autofill). While the shared cache is unreachable
/// each node allows a third of it.
fn ceremony_starts(per_minute: i64) -> crate::limits::Limit {
    crate::limits::Limit {
        kind: "ceremony-starts",
        per_window: per_minute,
        local_per_window: crate::limits::local_share(per_minute),
        window_secs: 60,
    }
}

/// Routes inside the `/o/{org}` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LOGIN_PATH, web::get().to(login_page))
        .route(LOGIN_PATH, web::post().to(login_submit))
        .route(LOGOUT_PATH, web::get().to(logout_page))
        .route(LOGOUT_PATH, web::post().to(logout_submit))
        .route("/branding.css", web::get().to(branding_css))
        .route("/login/key", web::get().to(second_factor_page))
        .route("/login/enrol", web::get().to(enrol_page))
        .route("/login/step-up", web::get().to(step_up_page))
        .route("/login/recovery", web::post().to(recovery_submit))
        .route("/password/forgot", web::get().to(forgot_page))
        .route("/password/forgot", web::post().to(forgot_submit))
        .route("/password/reset", web::get().to(reset_page))
        .route("/password/reset", web::post().to(reset_submit))
        .route("/webauthn/{mode}/start", web::post().to(webauthn_start))
        .route("/webauthn/{mode}/finish", web::post().to(webauthn_finish));
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

/// The answer to a request that failed on our side, sorted by kind (never a catch-all): an
/// outage of the database or the cache (`crate::store::is_outage`) is 503 "Temporarily
/// unavailable" with `Retry-After`; anything else is a bug, 500.
pub(crate) fn unavailable(org: &Org, err: &(dyn std::error::Error + 'static)) -> HttpResponse {
    failure(org, crate::http::log_failure(err, "request failed"))
}

/// The failure page of `unavailable`, once the kind is known.
pub(crate) fn failure(org: &Org, outage: bool) -> HttpResponse {
    if outage {
        crate::http::retry_later(message(
            org,
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot answer right now. Please try again in a moment.",
            None,
        ))
    } else {
        message(
            org,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side. Please try again later.",
            None,
        )
    }
}

/// Only paths inside this org may be returned to (never another site: no open redirect; never
/// another org: `crate::http::pages::return_path` is the one check); else the account page.
fn safe_return_to(org: &Org, raw: Option<&str>) -> String {
    let base = org_path(org);
    crate::http::pages::return_path(&base, raw).unwrap_or_else(|| format!("{base}{ACCOUNT_PATH}"))
}

#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
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
        email,
        signup: org.signup.mode == crate::tenancy::SignupMode::Open,
    };
    render(status, &page, set)
}

async fn login_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let org = org.0;
    let return_to = safe_return_to(&org, q.return_to.as_deref());
    // Already signed in: straight on (unless the app asked for a fresh sign-in).
    if q.reauth.is_none()
        && let Some(token) = session_token(&req)
    {
        match state.sessions.current(org.id, &token).await {
            Ok(Some(_)) => return see_other(&return_to, []),
            Ok(None) => {}
            Err(e) => return unavailable(&org, &e),
        }
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
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let org = org.0;
    let form = form.into_inner();
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    let return_to = safe_return_to(&org, form.return_to.as_deref());
    // The session this sign-in replaces (and ends): a failed lookup must not start a second one.
    let current = match session_token(&req) {
        Some(token) => match state.sessions.current(org.id, &token).await {
            Ok(s) => s,
            Err(e) => return unavailable(&org, &e),
        },
        None => None,
    };
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
        app_requests_mfa: false,
        current,
    };
    match state.login.password_login(&org, attempt).await {
        Ok(LoginOutcome::SignedIn { session, token, .. }) => {
            let cookie = new_session_cookie(&req, &state, &org, &session, &token).await;
            see_other(&return_to, [cookie])
        }
        Ok(LoginOutcome::SecondFactorRequired { pending_token }) => {
            let to = format!(
                "{}/login/key?return_to={}",
                org_path(&org),
                encode(&return_to)
            );
            see_other(&to, [pending_cookie(&state, &org, &pending_token)])
        }
        Ok(LoginOutcome::EnrolmentRequired { pending_token }) => {
            let to = format!(
                "{}/login/enrol?return_to={}",
                org_path(&org),
                encode(&return_to)
            );
            see_other(&to, [pending_cookie(&state, &org, &pending_token)])
        }
        Ok(LoginOutcome::EmailNotVerified) => {
            crate::accounts::links::unverified_page(&req, &state, &org, form.email.trim())
        }
        Ok(LoginOutcome::InvalidCredentials) => {
            render_login(
                &req,
                &state,
                &org,
                &return_to,
                StatusCode::UNAUTHORIZED,
                Some("The email or password is incorrect."),
                "",
            )
            .await
        }
        Ok(LoginOutcome::Throttled { retry_after }) => {
            let minutes = (retry_after.num_seconds() + 59) / 60;
            let text = format!(
                "Too many sign-in attempts. Please wait {minutes} minute(s) and try again."
            );
            let res = render_login(
                &req,
                &state,
                &org,
                &return_to,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&text),
                "",
            )
            .await;
            with_retry_after(res, retry_after)
        }
        Ok(LoginOutcome::Busy { retry_after }) => {
            let res = render_login(
                &req,
                &state,
                &org,
                &return_to,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Too many people are signing in right now. Please try again in a moment."),
                "",
            )
            .await;
            with_retry_after(res, retry_after)
        }
        Err(e) => unavailable(&org, &e),
    }
}

/// The cookie of a session a sign-in just started (or re-authenticated), after ending the
/// browser's previous session: every way of signing in (password, passkey, second factor, first
/// key, invitation, recovery code) goes through here, so the session the cookie replaces never
/// lives on unseen, and its apps are told (`SessionService::end` queues their logout
/// deliveries). A re-authenticated session keeps its id and is left alone; its old cookie
/// value no longer finds it anyway.
async fn new_session_cookie(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    session: &crate::sessions::Session,
    token: &crate::sessions::SessionToken,
) -> actix_web::cookie::Cookie<'static> {
    let previous = signed_in(req, state, org).await.unwrap_or_else(|e| {
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

async fn logout_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
) -> HttpResponse {
    logout_confirmation(&req, &state, &org.0).await
}

/// "Sign out of {org}?" with a CSRF-protected form (also what RP-initiated logout shows when it
/// cannot trust the request).
pub(crate) async fn logout_confirmation(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> HttpResponse {
    let session = match session_token(req) {
        Some(t) => match state.sessions.current(org.id, &t).await {
            Ok(s) => s,
            // Not "Signed out": the session may well be live.
            Err(e) => return unavailable(org, &e),
        },
        None => None,
    };
    let Some(session) = session else {
        return message(
            org,
            StatusCode::OK,
            "Signed out",
            "You are not signed in.",
            Some((format!("{}{LOGIN_PATH}", org_path(org)), "Sign in")),
        );
    };
    let email = match state.store.user_by_id(org.id, session.user_id).await {
        Ok(Some(u)) => u.email.as_str().to_owned(),
        Ok(None) => String::new(),
        Err(e) => return unavailable(org, &e),
    };
    let (csrf, set) = csrf_token(req, state, org);
    let page = LogoutPage {
        org_name: &org.name,
        org_path: org_path(org),
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
    let mut ended = None;
    if let Some(token) = session_token(&req) {
        match state.sessions.current(org.id, &token).await {
            Ok(Some(s)) => {
                ended = Some(s.id);
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
                    // Ended meanwhile (another tab, a revocation): signed out all the same.
                    if !matches!(e, crate::sessions::SessionError::NotFound) {
                        return unavailable(&org, &e);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => return unavailable(&org, &e),
        }
    }
    // Apps with a front-channel logout URI are told through iframes on the signed-out page.
    crate::slo::routes::signed_out(&state, &org, ended, None, true).await
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

pub const PENDING_COOKIE: &str = "pc_pending";

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn pending_cookie(state: &AppState, org: &Org, token: &str) -> actix_web::cookie::Cookie<'static> {
    let mut c = session_cookie(
        state,
        org,
        token,
        Some(crate::authn::webauthn::PENDING_SECS),
    );
    c.set_name(PENDING_COOKIE);
    c
}

fn clear_pending_cookie(state: &AppState, org: &Org) -> actix_web::cookie::Cookie<'static> {
    let mut c = clear_session_cookie(state, org);
    c.set_name(PENDING_COOKIE);
    c
}

#[derive(Template)]
#[template(path = "webauthn.html")]
struct WebauthnPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    return_to: &'a str,
    mode: &'a str,
    title: &'a str,
    message: &'a str,
    button: &'a str,
}

/// What a ceremony page says.
struct CeremonyText {
    mode: &'static str,
    title: &'static str,
    message: &'static str,
    button: &'static str,
}

const SECOND_FACTOR: CeremonyText = CeremonyText {
    mode: "second-factor",
    title: "Use your security key",
    message: "Your password was right. To finish signing in, use your security key or passkey.",
    button: "Use security key",
};

const STEP_UP: CeremonyText = CeremonyText {
    mode: "step-up",
    title: "Confirm with your security key",
    message: "This needs a second factor. Use your security key or passkey; you do not need to enter your password again.",
    button: "Use security key",
};

const ENROL: CeremonyText = CeremonyText {
    mode: "enrol",
    title: "Add a security key",
    message: "Your organization requires a second factor. Add a security key or passkey now to finish signing in.",
    button: "Add security key",
};

async fn webauthn_page(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    return_to: Option<&str>,
    text: &CeremonyText,
) -> HttpResponse {
    // Step-up continues a session; the other ceremonies continue a password step.
    let ready = if text.mode == STEP_UP.mode {
        match signed_in(req, state, org).await {
            Err(e) => return unavailable(org, &e),
            Ok(Some(session)) => {
                // Nothing to step up with: say how to get a key instead of a ceremony that
                // cannot succeed. Adding one needs a fresh sign-in, then the app asks again.
                match state
                    .store
                    .count_user_credentials(org.id, session.user_id)
                    .await
                {
                    Ok(0) => {
                        let add = format!(
                            "{}{LOGIN_PATH}?reauth=1&return_to={}",
                            org_path(org),
                            encode(&format!("{}{ACCOUNT_PATH}", org_path(org)))
                        );
                        return message(
                            org,
                            StatusCode::OK,
                            "A security key is needed",
                            "This needs a second factor, and your account has no security key or passkey yet. Add one on your account page (you will confirm your password first), then go back to the app.",
                            Some((add, "Add a security key")),
                        );
                    }
                    Ok(_) => true,
                    Err(e) => return unavailable(org, &e),
                }
            }
            Ok(None) => false,
        }
    } else {
        req.cookie(PENDING_COOKIE).is_some()
    };
    if !ready {
        return see_other(&format!("{}{LOGIN_PATH}", org_path(org)), []);
    }
    let (csrf, set) = csrf_token(req, state, org);
    let return_to = safe_return_to(org, return_to);
    let page = WebauthnPage {
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        return_to: &return_to,
        mode: text.mode,
        title: text.title,
        message: text.message,
        button: text.button,
    };
    render(StatusCode::OK, &page, set)
}

async fn second_factor_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> HttpResponse {
    webauthn_page(&req, &state, &org.0, q.return_to.as_deref(), &SECOND_FACTOR).await
}

async fn step_up_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> HttpResponse {
    webauthn_page(&req, &state, &org.0, q.return_to.as_deref(), &STEP_UP).await
}

async fn enrol_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> HttpResponse {
    webauthn_page(&req, &state, &org.0, q.return_to.as_deref(), &ENROL).await
}

#[derive(Deserialize)]
struct CeremonyStart {
    #[serde(default)]
    kind: Option<crate::authn::webauthn::CredentialKind>,
    /// The invitation link's token (mode `invite`).
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
struct CeremonyFinish {
    flow_id: String,
    credential: serde_json::Value,
    #[serde(default)]
    name: String,
    #[serde(default)]
    return_to: Option<String>,
    /// The invitation link's token (mode `invite`).
    #[serde(default)]
    token: Option<String>,
}

/// The live invitation link behind `token`, and its user.
async fn invitation(
    state: &AppState,
    org: &Org,
    token: Option<&str>,
) -> Result<(crate::store::EmailLink, crate::accounts::User), HttpResponse> {
    let gone = || {
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "This invitation link was used already, a newer one was sent, or it expired.",
        )
    };
    let token = token.unwrap_or_default();
    let link = match state
        .accounts
        .link(org, token, crate::store::LinkPurpose::Invitation)
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Err(gone()),
        Err(e) => {
            return Err(flow_error(
                &crate::authn::webauthn::WebauthnFlowError::Setup(e.to_string()),
            ));
        }
    };
    match state.store.user_by_id(org.id, link.user_id).await {
        Ok(Some(u)) if u.active => Ok((link, u)),
        Ok(_) => Err(gone()),
        Err(e) => Err(flow_error(
            &crate::authn::webauthn::WebauthnFlowError::Setup(e.to_string()),
        )),
    }
}

fn json_error(status: StatusCode, error: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(portcullis_api_types::ErrorBody {
            error: error.to_owned(),
            message: message.to_owned(),
        })
}

fn flow_error(err: &crate::authn::webauthn::WebauthnFlowError) -> HttpResponse {
    use crate::authn::webauthn::WebauthnFlowError as E;
    match err {
        E::UnknownFlow | E::NoPendingLogin => {
            json_error(StatusCode::BAD_REQUEST, "flow_expired", &err.to_string())
        }
        E::Rejected => json_error(StatusCode::UNAUTHORIZED, "rejected", &err.to_string()),
        E::WrongStep => json_error(StatusCode::FORBIDDEN, "wrong_step", &err.to_string()),
        E::KeyTooNew => json_error(StatusCode::FORBIDDEN, "key_too_new", &err.to_string()),
        E::ReauthRequired => json_error(
            StatusCode::FORBIDDEN,
            "reauthentication_required",
            &err.to_string(),
        ),
        E::EmailNotVerified => json_error(
            StatusCode::FORBIDDEN,
            "email_not_verified",
            &err.to_string(),
        ),
        E::InvalidName | E::Duplicate => {
            json_error(StatusCode::BAD_REQUEST, "invalid_request", &err.to_string())
        }
        E::Setup(reason) => {
            tracing::warn!(%reason, "webauthn unavailable");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &err.to_string(),
            )
        }
        E::Authn(_) => {
            if crate::http::log_failure(err, "webauthn ceremony failed") {
                crate::http::retry_later(json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Please try again in a moment.",
                ))
            } else {
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Something went wrong on our side. Please try again later.",
                )
            }
        }
    }
}

/// JSON ceremony endpoints take the CSRF token in `X-CSRF-Token` (and only JSON bodies, which a
/// cross-site form cannot send).
fn csrf_header_ok(req: &HttpRequest, state: &AppState) -> bool {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    csrf_ok(req, state, token)
}

fn pending_token(req: &HttpRequest) -> Option<String> {
    req.cookie(PENDING_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The browser's session, if any; a failed lookup is an error, never "not signed in".
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> Result<Option<crate::sessions::Session>, crate::sessions::SessionError> {
    match session_token(req) {
        Some(token) => state.sessions.current(org.id, &token).await,
        None => Ok(None),
    }
}

/// `signed_in` for the JSON ceremony endpoints: a failed lookup is their failure answer.
async fn signed_in_json(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> Result<Option<crate::sessions::Session>, HttpResponse> {
    signed_in(req, state, org)
        .await
        .map_err(|e| flow_error(&e.into()))
}

async fn webauthn_start(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    mode: web::Path<(String, String)>,
    body: web::Json<CeremonyStart>,
) -> HttpResponse {
    use crate::authn::webauthn::CredentialKind;
    let org = org.0;
    if !csrf_header_ok(&req, &state) {
        return json_error(
            StatusCode::FORBIDDEN,
            "csrf",
            "This page has expired; reload it and try again.",
        );
    }
    // Every start stores a flow: an anonymous flood from one address is cut off here.
    if let Err(limited) = state
        .limits
        .hit(
            org.id,
            &ceremony_starts(state.config.security.ceremony_starts_per_ip_per_minute),
            &crate::limits::limit_subject(&client_ip(&req, &state)),
        )
        .await
    {
        let res = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many attempts from your network. Please wait a minute and try again.",
        );
        return with_retry_after(res, limited.retry_after);
    }
    let kind = body.kind.unwrap_or(CredentialKind::SecurityKey);
    let w = &state.webauthn;
    let started = match mode.1.as_str() {
        "passkey-login" => w
            .start_passkey_login(&org)
            .await
            .map(|(f, o)| (f, serde_json::to_value(o))),
        "second-factor" => match pending_token(&req) {
            Some(t) => w
                .start_second_factor(&org, &t)
                .await
                .map(|(f, o)| (f, serde_json::to_value(o))),
            None => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "flow_expired",
                    "Enter your password again.",
                );
            }
        },
        "enrol" => match pending_token(&req) {
            Some(t) => w
                .start_enrolment(&org, &t, kind)
                .await
                .map(|(f, o)| (f, serde_json::to_value(o))),
            None => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "flow_expired",
                    "Enter your password again.",
                );
            }
        },
        "step-up" => match signed_in_json(&req, &state, &org).await {
            Err(res) => return res,
            Ok(Some(session)) => w
                .start_step_up(&org, &session)
                .await
                .map(|(f, o)| (f, serde_json::to_value(o))),
            Ok(None) => {
                return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first.");
            }
        },
        "invite" => {
            let (_, user) = match invitation(&state, &org, body.token.as_deref()).await {
                Ok(found) => found,
                Err(res) => return res,
            };
            w.start_invitation(&org, &user, body.token.as_deref().unwrap_or_default())
                .await
                .map(|(f, o)| (f, serde_json::to_value(o)))
        }
        "register" => {
            let Some(session) = (match signed_in_json(&req, &state, &org).await {
                Ok(s) => s,
                Err(res) => return res,
            }) else {
                return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first.");
            };
            let user = match state.store.user_by_id(org.id, session.user_id).await {
                Ok(Some(u)) => u,
                Err(e) => return flow_error(&e.into()),
                Ok(None) => {
                    return json_error(
                        StatusCode::UNAUTHORIZED,
                        "login_required",
                        "Sign in first.",
                    );
                }
            };
            w.start_registration(&org, &session, &user, kind)
                .await
                .map(|(f, o)| (f, serde_json::to_value(o)))
        }
        _ => return json_error(StatusCode::NOT_FOUND, "not_found", "no such ceremony"),
    };
    match started {
        Ok((flow_id, Ok(options))) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "flow_id": flow_id, "options": options })),
        Ok((_, Err(e))) => flow_error(&crate::authn::webauthn::WebauthnFlowError::Setup(
            e.to_string(),
        )),
        Err(e) => flow_error(&e),
    }
}

async fn webauthn_finish(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    mode: web::Path<(String, String)>,
    body: web::Json<CeremonyFinish>,
) -> HttpResponse {
    use crate::authn::webauthn::WebauthnFlowError as E;
    let org = org.0;
    if !csrf_header_ok(&req, &state) {
        return json_error(
            StatusCode::FORBIDDEN,
            "csrf",
            "This page has expired; reload it and try again.",
        );
    }
    let body = body.into_inner();
    let return_to = safe_return_to(&org, body.return_to.as_deref());
    let w = &state.webauthn;
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let assertion = || serde_json::from_value(body.credential.clone()).map_err(|_| E::Rejected);
    let attestation = || serde_json::from_value(body.credential.clone()).map_err(|_| E::Rejected);
    // The ceremonies that sign in: a new session and its cookie.
    let started = match mode.1.as_str() {
        "passkey-login" => Some(match assertion() {
            Ok(a) => {
                let current = match signed_in_json(&req, &state, &org).await {
                    Ok(s) => s,
                    Err(res) => return res,
                };
                w.finish_passkey_login(
                    &org,
                    &body.flow_id,
                    &a,
                    ua.clone(),
                    client_ip(&req, &state),
                    current,
                )
                .await
            }
            Err(e) => Err(e),
        }),
        "second-factor" => Some(match (pending_token(&req), assertion()) {
            (Some(p), Ok(a)) => w.finish_second_factor(&org, &p, &body.flow_id, &a).await,
            (None, _) => Err(E::NoPendingLogin),
            (_, Err(e)) => Err(e),
        }),
        "enrol" => Some(match (pending_token(&req), attestation()) {
            (Some(p), Ok(a)) => w
                .finish_enrolment(&org, &p, &body.flow_id, &a, &body.name)
                .await
                .map(|(_, s, t)| (s, t)),
            (None, _) => Err(E::NoPendingLogin),
            (_, Err(e)) => Err(e),
        }),
        "invite" => {
            let (link, _) = match invitation(&state, &org, body.token.as_deref()).await {
                Ok(found) => found,
                Err(res) => return res,
            };
            Some(match attestation() {
                Ok(a) => {
                    w.finish_invitation(
                        &org,
                        &link,
                        body.token.as_deref().unwrap_or_default(),
                        &body.flow_id,
                        &a,
                        &body.name,
                        ua.clone(),
                        client_ip(&req, &state),
                    )
                    .await
                }
                Err(e) => Err(e),
            })
        }
        _ => None,
    };
    if let Some(started) = started {
        return match started {
            Ok((session, token)) => {
                let cookie = new_session_cookie(&req, &state, &org, &session, &token).await;
                HttpResponse::Ok()
                    .insert_header(("Cache-Control", "no-store"))
                    .cookie(cookie)
                    .cookie(clear_pending_cookie(&state, &org))
                    .json(serde_json::json!({ "redirect": return_to }))
            }
            Err(e) => flow_error(&e),
        };
    }
    let result = match mode.1.as_str() {
        "step-up" => {
            let Some(session) = (match signed_in_json(&req, &state, &org).await {
                Ok(s) => s,
                Err(res) => return res,
            }) else {
                return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first.");
            };
            match assertion() {
                Ok(a) => w
                    .finish_step_up(&org, &session, &body.flow_id, &a)
                    .await
                    .map(|s| {
                        HttpResponse::Ok()
                            .insert_header(("Cache-Control", "no-store"))
                            .json(serde_json::json!({
                                "redirect": return_to, "amr": s.amr(),
                            }))
                    }),
                Err(e) => Err(e),
            }
        }
        "register" => {
            let Some(session) = (match signed_in_json(&req, &state, &org).await {
                Ok(s) => s,
                Err(res) => return res,
            }) else {
                return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first.");
            };
            match attestation() {
                Ok(a) => w.finish_registration(&org, &session, &body.flow_id, &a, &body.name).await.map(|c| {
                    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
                        "id": c.id.to_string(), "name": c.name, "kind": c.kind, "redirect": return_to,
                    }))
                }),
                Err(e) => Err(e),
            }
        }
        _ => return json_error(StatusCode::NOT_FOUND, "not_found", "no such ceremony"),
    };
    result.unwrap_or_else(|e| flow_error(&e))
}

async fn webauthn_script() -> HttpResponse {
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
    form: web::Form<RecoveryForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    let Some(pending) = pending_token(&req) else {
        return see_other(&format!("{}{LOGIN_PATH}", org_path(&org)), []);
    };
    match state
        .webauthn
        .finish_with_recovery_code(&org, &pending, &form.code)
        .await
    {
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
        Err(e) => unavailable(&org, &e),
    }
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
    form: web::Form<ForgotForm>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    let result = state
        .accounts
        .request_password_reset(&org, &form.email, &client_ip(&req, &state))
        .await;
    crate::accounts::links::pad(started).await;
    if let Err(e) = result {
        return unavailable(&org, &e);
    }
    let (csrf, set) = csrf_token(&req, &state, &org);
    let page = ForgotPage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        sent: true,
    };
    render(StatusCode::OK, &page, set)
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

fn invalid_link(org: &Org) -> HttpResponse {
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
) -> HttpResponse {
    let org = org.0;
    match state.accounts.reset_link_valid(&org, &q.token).await {
        Ok(true) => {}
        Ok(false) => return invalid_link(&org),
        Err(e) => return unavailable(&org, &e),
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
    render(StatusCode::OK, &page, set)
}

/// A link's token and the new password (reset and invitation pages).
#[derive(Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub csrf: String,
}

async fn reset_submit(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
) -> HttpResponse {
    let org = org.0;
    if !csrf_ok(&req, &state, &form.csrf) {
        return csrf_refused(&org);
    }
    match state
        .accounts
        .reset_password(&org, &form.token, &form.new_password)
        .await
    {
        Ok(crate::accounts::ResetOutcome::Done) => message(
            &org,
            StatusCode::OK,
            "Password changed",
            "Your password is changed and you were signed out everywhere. Sign in with the new password (and your security key, if you have one).",
            Some((format!("{}{LOGIN_PATH}", org_path(&org)), "Sign in")),
        ),
        Ok(_) => invalid_link(&org),
        Err(crate::accounts::AccountError::InvalidPassword(e)) => {
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
        Err(e) => unavailable(&org, &e),
    }
}
