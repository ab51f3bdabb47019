//! The WebAuthn ceremonies of the hosted pages: their pages (`/login/key`, `/login/enrol`,
//! `/login/step-up`) and the JSON endpoints their script calls
//! (`/webauthn/{ceremony}/start|finish`, CSRF token in `X-CSRF-Token`).

use super::webauthn::{CredentialKind, WebauthnFlowError};
use crate::http::extract::{CsrfHeader, session_of};
use crate::http::pages::{
    ACCOUNT_PATH, LOGIN_PATH, PENDING_COOKIE, client_ip, csrf_token, message, org_path, render,
    see_other,
};
use crate::http::signin::{
    clear_pending_cookie, encode, new_session_cookie, pending_token, safe_return_to,
};
use crate::http::{CurrentOrg, JsonError, OrUnavailable, PageError};
use crate::sessions::{Session, SessionToken};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

/// The pages' result.
type Page = Result<HttpResponse, PageError>;
/// The JSON endpoints' result.
type Json = Result<HttpResponse, JsonError>;

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/key", web::get().to(second_factor_page))
        .route("/login/enrol", web::get().to(enrol_page))
        .route("/login/step-up", web::get().to(step_up_page))
        .route("/webauthn/{ceremony}/start", web::post().to(webauthn_start))
        .route(
            "/webauthn/{ceremony}/finish",
            web::post().to(webauthn_finish),
        );
}

#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
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
) -> Page {
    // Step-up continues a session; the other ceremonies continue a password step.
    let ready = if text.mode == STEP_UP.mode {
        match session_of(req, state, org).await.or_unavailable(org)? {
            Some(session) => {
                let keys = state
                    .webauthn
                    .credentials(org, session.user_id)
                    .await
                    .or_unavailable(org)?;
                // Nothing to step up with: say how to get a key instead of a ceremony that
                // cannot succeed. Adding one needs a fresh sign-in, then the app asks again.
                if keys.is_empty() {
                    return Ok(no_key_yet(org));
                }
                true
            }
            None => false,
        }
    } else {
        req.cookie(PENDING_COOKIE).is_some()
    };
    if !ready {
        return Ok(see_other(&format!("{}{LOGIN_PATH}", org_path(org)), []));
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
    Ok(render(StatusCode::OK, &page, set))
}

/// Step-up for an account without a key: how to add one.
fn no_key_yet(org: &Org) -> HttpResponse {
    let add = format!(
        "{}{LOGIN_PATH}?reauth=1&return_to={}",
        org_path(org),
        encode(&format!("{}{ACCOUNT_PATH}", org_path(org)))
    );
    message(
        org,
        StatusCode::OK,
        "A security key is needed",
        "This needs a second factor, and your account has no security key or passkey yet. Add one on your account page (you will confirm your password first), then go back to the app.",
        Some((add, "Add a security key")),
    )
}

async fn second_factor_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> Page {
    webauthn_page(&req, &state, &org.0, q.return_to.as_deref(), &SECOND_FACTOR).await
}

async fn step_up_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> Page {
    webauthn_page(&req, &state, &org.0, q.return_to.as_deref(), &STEP_UP).await
}

async fn enrol_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<ReturnTo>,
) -> Page {
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

/// A key ceremony's outcome as `portcullis_sign_ins_total` counts it.
fn key_outcome<T>(signed: &Result<T, JsonError>) -> &'static str {
    match signed {
        Ok(_) => "signed_in",
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => "throttled",
        Err(e) if e.status.is_server_error() => "error",
        Err(_) => "invalid",
    }
}

/// The ceremonies, by the name in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ceremony {
    /// Sign in with a passkey alone.
    PasskeyLogin,
    /// The key after a right password.
    SecondFactor,
    /// A first key after a right password, where the org requires one.
    Enrol,
    /// A fresh second factor for a signed-in session.
    StepUp,
    /// Set up an invited account with a key instead of a password.
    Invite,
    /// Add a key from the account page.
    Register,
}

impl Ceremony {
    /// The factor label of a signing-in ceremony (`crate::metrics`).
    fn factor(self) -> &'static str {
        match self {
            Self::PasskeyLogin => "passkey",
            Self::SecondFactor => "second_factor_key",
            Self::Enrol => "key_enrolment",
            Self::Invite => "invitation_key",
            Self::StepUp | Self::Register => "other",
        }
    }

    fn parse(name: &str) -> Result<Self, JsonError> {
        Ok(match name {
            "passkey-login" => Self::PasskeyLogin,
            "second-factor" => Self::SecondFactor,
            "enrol" => Self::Enrol,
            "step-up" => Self::StepUp,
            "invite" => Self::Invite,
            "register" => Self::Register,
            _ => {
                return Err(JsonError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such ceremony",
                ));
            }
        })
    }
}

fn sign_in_first() -> JsonError {
    JsonError::new(StatusCode::UNAUTHORIZED, "login_required", "Sign in first.")
}

fn password_again() -> JsonError {
    JsonError::new(
        StatusCode::BAD_REQUEST,
        "flow_expired",
        "Enter your password again.",
    )
}

/// The browser's session for a JSON endpoint: a failed look-up is its failure answer.
async fn signed_in(req: &HttpRequest, state: &AppState, org: &Org) -> Result<Session, JsonError> {
    session_of(req, state, org)
        .await
        .map_err(|e| JsonError::from(WebauthnFlowError::from(e)))?
        .ok_or_else(sign_in_first)
}

/// The live invitation link behind `token`, and its (active) user.
async fn invitation(
    state: &AppState,
    org: &Org,
    token: Option<&str>,
) -> Result<(crate::accounts::EmailLink, crate::accounts::User), JsonError> {
    let invited = state
        .accounts
        .invitation(org, token.unwrap_or_default())
        .await
        .map_err(|e| JsonError::failure(&e, "invitation look-up failed"))?;
    match invited {
        Some((link, user)) if user.active => Ok((link, user)),
        _ => Err(JsonError::new(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "This invitation link was used already, a newer one was sent, or it expired.",
        )),
    }
}

/// A started ceremony's answer: its flow id and the options for `navigator.credentials`.
fn started<O: serde::Serialize>(started: Result<(String, O), WebauthnFlowError>) -> Json {
    let (flow_id, options) = started?;
    let options =
        serde_json::to_value(options).map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
    Ok(no_store_json(
        serde_json::json!({ "flow_id": flow_id, "options": options }),
    ))
}

fn no_store_json(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

async fn webauthn_start(
    req: HttpRequest,
    _csrf: CsrfHeader,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<CeremonyStart>,
) -> Json {
    let org = org.0;
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
        let mut refused = JsonError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many attempts from your network. Please wait a minute and try again.",
        );
        refused.retry_after = Some(limited.retry_after);
        return Err(refused);
    }
    let kind = body.kind.unwrap_or(CredentialKind::SecurityKey);
    let w = &state.webauthn;
    match Ceremony::parse(&path.1)? {
        Ceremony::PasskeyLogin => started(w.start_passkey_login(&org).await),
        Ceremony::SecondFactor => {
            let pending = pending_token(&req).ok_or_else(password_again)?;
            started(w.start_second_factor(&org, &pending).await)
        }
        Ceremony::Enrol => {
            let pending = pending_token(&req).ok_or_else(password_again)?;
            started(w.start_enrolment(&org, &pending, kind).await)
        }
        Ceremony::StepUp => {
            let session = signed_in(&req, &state, &org).await?;
            started(w.start_step_up(&org, &session).await)
        }
        Ceremony::Invite => {
            let token = body.token.as_deref();
            let (_, user) = invitation(&state, &org, token).await?;
            started(
                w.start_invitation(&org, &user, token.unwrap_or_default())
                    .await,
            )
        }
        Ceremony::Register => {
            let session = signed_in(&req, &state, &org).await?;
            let user = state
                .accounts
                .user(&org, session.user_id)
                .await
                .map_err(|e| JsonError::failure(&e, "webauthn ceremony failed"))?
                .ok_or_else(sign_in_first)?;
            started(w.start_registration(&org, &session, &user, kind).await)
        }
    }
}

/// A finish request: the ceremony, its body, and what the request says of the browser.
struct Finish<'a> {
    req: &'a HttpRequest,
    state: &'a AppState,
    org: &'a Org,
    body: CeremonyFinish,
    return_to: String,
}

impl Finish<'_> {
    fn credential<T: serde::de::DeserializeOwned>(&self) -> Result<T, WebauthnFlowError> {
        serde_json::from_value(self.body.credential.clone())
            .map_err(|_| WebauthnFlowError::Rejected)
    }

    fn user_agent(&self) -> Option<String> {
        self.req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The ceremonies that sign in: a new session and its cookie.
    async fn sign_in(&self, ceremony: Ceremony) -> Result<(Session, SessionToken), JsonError> {
        let (w, org, body) = (&self.state.webauthn, self.org, &self.body);
        let flow = body.flow_id.as_str();
        let pending = || pending_token(self.req).ok_or(WebauthnFlowError::NoPendingLogin);
        Ok(match ceremony {
            Ceremony::PasskeyLogin => {
                let assertion = self.credential()?;
                let current = session_of(self.req, self.state, org)
                    .await
                    .map_err(|e| JsonError::from(WebauthnFlowError::from(e)))?;
                let ip = client_ip(self.req, self.state);
                w.finish_passkey_login(org, flow, &assertion, self.user_agent(), ip, current)
                    .await?
            }
            Ceremony::SecondFactor => {
                let pending = pending()?;
                let assertion = self.credential()?;
                w.finish_second_factor(org, &pending, flow, &assertion)
                    .await?
            }
            Ceremony::Enrol => {
                let pending = pending()?;
                let attestation = self.credential()?;
                let (_, session, token) = w
                    .finish_enrolment(org, &pending, flow, &attestation, &body.name)
                    .await?;
                (session, token)
            }
            Ceremony::Invite => {
                let token = body.token.as_deref();
                let (link, _) = invitation(self.state, org, token).await?;
                let attestation = self.credential()?;
                let ip = client_ip(self.req, self.state);
                let token = token.unwrap_or_default();
                let ua = self.user_agent();
                w.finish_invitation(org, &link, token, flow, &attestation, &body.name, ua, ip)
                    .await?
            }
            Ceremony::StepUp | Ceremony::Register => {
                return Err(JsonError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such ceremony",
                ));
            }
        })
    }
}

async fn webauthn_finish(
    req: HttpRequest,
    _csrf: CsrfHeader,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<CeremonyFinish>,
) -> Json {
    let org = org.0;
    let body = body.into_inner();
    let return_to = safe_return_to(&org, body.return_to.as_deref());
    let finish = Finish {
        req: &req,
        state: &state,
        org: &org,
        body,
        return_to,
    };
    let w = &state.webauthn;
    let (flow, name) = (finish.body.flow_id.as_str(), finish.body.name.as_str());
    match Ceremony::parse(&path.1)? {
        Ceremony::StepUp => {
            let session = signed_in(&req, &state, &org).await?;
            let assertion = finish.credential()?;
            let s = w.finish_step_up(&org, &session, flow, &assertion).await?;
            Ok(no_store_json(serde_json::json!({
                "redirect": finish.return_to, "amr": s.amr(),
            })))
        }
        Ceremony::Register => {
            let session = signed_in(&req, &state, &org).await?;
            let attestation = finish.credential()?;
            let c = w
                .finish_registration(&org, &session, flow, &attestation, name)
                .await?;
            Ok(no_store_json(serde_json::json!({
                "id": c.id.to_string(), "name": c.name, "kind": c.kind,
                "redirect": finish.return_to,
            })))
        }
        ceremony => {
            let signed = finish.sign_in(ceremony).await;
            state
                .metrics
                .sign_in(ceremony.factor(), key_outcome(&signed));
            let (session, token) = signed?;
            let cookie = new_session_cookie(&req, &state, &org, &session, &token).await;
            Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .cookie(cookie)
                .cookie(clear_pending_cookie(&state, &org))
                .json(serde_json::json!({ "redirect": finish.return_to })))
        }
    }
}
