//! The account page `/o/{org}/account`: profile, "where you're signed in", signing sessions out,
//! changing the password.

use crate::app::AppState;
use crate::authn::PasswordChange;
use crate::authn::routes::{ACCOUNT_PATH, CsrfForm, LOGIN_PATH, csrf_refused, unavailable};
use crate::http::CurrentOrg;
use crate::http::pages::{csrf_ok, csrf_token, device, org_path, render, see_other, session_token};
use crate::sessions::{EndReason, Session, SessionError, SessionId};
use crate::tenancy::Org;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(ACCOUNT_PATH, web::get().to(account_page))
        .route("/account/sessions/end-others", web::post().to(end_others))
        .route("/account/sessions/end-all", web::post().to(end_all))
        .route("/account/sessions/{id}/end", web::post().to(end_one))
        .route("/account/password", web::post().to(change_password))
        .route("/account/email", web::post().to(change_email))
        .route(
            "/account/consents/{app}/revoke",
            web::post().to(revoke_consent),
        )
        .route(
            "/account/credentials/{id}/remove",
            web::post().to(remove_credential),
        )
        .route("/account/recovery-codes", web::post().to(recovery_codes))
        .route(
            "/account/credentials/{id}/rename",
            web::post().to(rename_credential),
        );
}

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    started: String,
    last_active: String,
    current: bool,
}

struct CredentialRow {
    id: String,
    name: String,
    kind: &'static str,
    created: String,
    last_used: Option<String>,
}

struct ConsentView {
    app_id: String,
    app_name: String,
    scope: String,
    granted: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    credentials: Vec<CredentialRow>,
    consents: Vec<ConsentView>,
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    csrf: &'a str,
    email: &'a str,
    name: Option<&'a str>,
    sessions: Vec<SessionRow>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The signed-in session, or the response to send instead (sign-in redirect or error page).
async fn require_session(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> Result<Session, HttpResponse> {
    let back = format!("{}{ACCOUNT_PATH}", org_path(org));
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let token = session_token(req);
    let current = match &token {
        Some(t) => state.sessions.current(org.id, t).await,
        None => Ok(None),
    };
    match current {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            // Half signed in (password done, key still to come): continue there, not from scratch.
            let pending = req.cookie(crate::authn::routes::PENDING_COOKIE);
            let step = match pending {
                Some(p) => state.webauthn.pending_step(org, p.value()).await,
                None => None,
            };
            let path = match step {
                Some(step) => format!("{}/login/{step}", org_path(org)),
                None => format!("{}{LOGIN_PATH}", org_path(org)),
            };
            Err(see_other(&format!("{path}?return_to={back}"), []))
        }
        Err(e) => Err(unavailable(org, &e)),
    }
}

/// For state-changing forms: a valid CSRF token and a live session, or the answer to send.
async fn guard(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    csrf: &str,
) -> Result<Session, HttpResponse> {
    if !csrf_ok(req, state, csrf) {
        return Err(csrf_refused(org));
    }
    require_session(req, state, org).await
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
    current: &Session,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let user = match state.store.user_by_id(org.id, current.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            tracing::error!("account page: a live session without its user");
            return crate::authn::routes::failure(org, false);
        }
        Err(e) => return unavailable(org, &e),
    };
    let sessions = match state.sessions.list(org.id, current.user_id).await {
        Ok(list) => list,
        Err(e) => return unavailable(org, &e),
    };
    let rows = sessions
        .iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: device(s.user_agent.as_deref()),
            ip: s.ip.clone().unwrap_or_default(),
            started: when(s.created_at),
            last_active: when(s.last_seen_at),
            current: s.id == current.id,
        })
        .collect();
    let credentials = match state.webauthn.credentials(org, current.user_id).await {
        Ok(list) => list
            .into_iter()
            .map(|c| CredentialRow {
                id: c.id.to_string(),
                name: c.name,
                kind: if c.kind == "passkey" {
                    "passkey"
                } else {
                    "security key"
                },
                created: when(c.created_at),
                last_used: c.last_used_at.map(when),
            })
            .collect(),
        Err(e) => return unavailable(org, &e),
    };
    let consents = match state.oidc.consents(org, current.user_id).await {
        Ok(list) => list
            .into_iter()
            .map(|c| ConsentView {
                app_id: c.app_id.to_string(),
                app_name: c.app_name,
                scope: c.scope,
                granted: when(c.granted_at),
            })
            .collect(),
        Err(e) => return unavailable(org, &e),
    };
    let (csrf, set) = csrf_token(req, state, org);
    let page = AccountPage {
        credentials,
        consents,
        org_name: &org.name,
        org_path: org_path(org),
        logo_url: org.branding.logo_url.as_deref(),
        csrf: &csrf,
        email: user.email.as_str(),
        name: user.name.as_deref(),
        sessions: rows,
        notice,
        error,
    };
    render(status, &page, set)
}

#[derive(Deserialize)]
struct AccountQuery {
    #[serde(default)]
    recovered: Option<String>,
}

async fn account_page(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    q: web::Query<AccountQuery>,
) -> HttpResponse {
    let org = org.0;
    // After a recovery code the user is asked to replace the lost key.
    let notice = q.recovered.as_ref().map(|_| "You signed in with a recovery code. Add a new security key below, and generate new recovery codes.");
    match require_session(&req, &state, &org).await {
        Ok(current) => show(&req, &state, &org, &current, StatusCode::OK, notice, None).await,
        Err(res) => res,
    }
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    codes: Vec<String>,
}

async fn recovery_codes(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    use crate::authn::webauthn::WebauthnFlowError;
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match state
        .webauthn
        .regenerate_recovery_codes(&org, &current)
        .await
    {
        Ok(codes) => {
            let page = RecoveryCodesPage {
                org_name: &org.name,
                org_path: org_path(&org),
                logo_url: org.branding.logo_url.as_deref(),
                codes,
            };
            render(StatusCode::OK, &page, [])
        }
        Err(WebauthnFlowError::ReauthRequired) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::FORBIDDEN,
                None,
                Some("Please sign out and sign in again before generating recovery codes."),
            )
            .await
        }
        Err(e) => unavailable(&org, &e),
    }
}

fn back_to_account(org: &Org) -> HttpResponse {
    see_other(&format!("{}{ACCOUNT_PATH}", org_path(org)), [])
}

async fn end_one(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok(id) = path.1.parse::<uuid::Uuid>() else {
        return back_to_account(&org);
    };
    match state
        .sessions
        .end_own(
            org.id,
            current.user_id,
            SessionId(id),
            EndReason::SignedOutElsewhere,
        )
        .await
    {
        Ok(_) | Err(SessionError::NotFound) => back_to_account(&org),
        Err(e) => unavailable(&org, &e),
    }
}

/// Withdraws the consent given to a third-party app; its sessions of the user end.
async fn revoke_consent(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok(id) = path.1.parse::<uuid::Uuid>() else {
        return back_to_account(&org);
    };
    match state
        .oidc
        .revoke_consent(&org, current.user_id, crate::apps::AppId(id))
        .await
    {
        Ok(_) => back_to_account(&org),
        Err(e) => unavailable(&org, &e),
    }
}

/// Sign out everywhere: every IdP session of the user, this one included, and every app
/// session (outliving ones too) end; every app is notified (DESIGN §1).
async fn end_all(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let actor = format!("user:{}", current.user_id);
    match state
        .sessions
        .end_user_sessions(
            org.id,
            current.user_id,
            None,
            EndReason::UserSignedOutEverywhere,
            &actor,
        )
        .await
    {
        Ok(_) => crate::slo::routes::signed_out(&state, &org, Some(current.id), None, true).await,
        Err(e) => unavailable(&org, &e),
    }
}

async fn end_others(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let actor = format!("user:{}", current.user_id);
    match state
        .sessions
        .end_user_sessions(
            org.id,
            current.user_id,
            Some(current.id),
            EndReason::UserSignedOutEverywhere,
            &actor,
        )
        .await
    {
        Ok(_) => back_to_account(&org),
        Err(e) => unavailable(&org, &e),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
    #[serde(default)]
    end_other_sessions: Option<String>,
}

async fn change_password(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let org = org.0;
    let form = form.into_inner();
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let result = state
        .login
        .change_password(
            &org,
            &current,
            &form.current_password,
            &form.new_password,
            form.end_other_sessions.is_some(),
            &crate::http::pages::client_ip(&req, &state),
        )
        .await;
    match result {
        Ok(PasswordChange::Changed { ended_sessions }) => {
            let notice = if ended_sessions > 0 {
                format!(
                    "Your password was changed and {ended_sessions} other session(s) were signed out."
                )
            } else {
                "Your password was changed.".to_owned()
            };
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::OK,
                Some(&notice),
                None,
            )
            .await
        }
        Ok(PasswordChange::Throttled { retry_after }) => {
            let res = show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some("Too many attempts. Please wait a moment and try again."),
            )
            .await;
            crate::http::pages::with_retry_after(res, retry_after)
        }
        Ok(PasswordChange::WrongCurrentPassword) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::BAD_REQUEST,
                None,
                Some("The current password is incorrect."),
            )
            .await
        }
        Err(crate::authn::AuthnError::InvalidPassword(e)) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::BAD_REQUEST,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => unavailable(&org, &e),
    }
}

async fn remove_credential(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    use crate::authn::webauthn::WebauthnFlowError;
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok(id) = path.1.parse::<uuid::Uuid>() else {
        return back_to_account(&org);
    };
    match state.webauthn.remove(&org, &current, id).await {
        Ok(()) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::OK,
                Some("The key was removed."),
                None,
            )
            .await
        }
        Err(WebauthnFlowError::ReauthRequired) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::FORBIDDEN,
                None,
                Some("Please sign out and sign in again before removing a key."),
            )
            .await
        }
        Err(WebauthnFlowError::Rejected) => back_to_account(&org),
        Err(e) => unavailable(&org, &e),
    }
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn rename_credential(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<RenameForm>,
) -> HttpResponse {
    use crate::authn::webauthn::WebauthnFlowError;
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Ok(id) = path.1.parse::<uuid::Uuid>() else {
        return back_to_account(&org);
    };
    match state.webauthn.rename(&org, &current, id, &form.name).await {
        Ok(()) | Err(WebauthnFlowError::Rejected) => back_to_account(&org),
        Err(WebauthnFlowError::InvalidName) => {
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::BAD_REQUEST,
                None,
                Some("A key's name must be 1-100 characters."),
            )
            .await
        }
        Err(e) => unavailable(&org, &e),
    }
}

#[derive(Deserialize)]
struct EmailChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_email: String,
}

/// Sends the confirmation link to the new address; needs a recent sign-in (as adding a key
/// does), since whoever controls the address can reset the password.
async fn change_email(
    req: HttpRequest,
    org: CurrentOrg,
    state: web::Data<AppState>,
    form: web::Form<EmailChangeForm>,
) -> HttpResponse {
    let org = org.0;
    let current = match guard(&req, &state, &org, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if state.webauthn.require_recent(&current).is_err() {
        return show(
            &req,
            &state,
            &org,
            &current,
            StatusCode::FORBIDDEN,
            None,
            Some("Please sign out and sign in again before changing your email address."),
        )
        .await;
    }
    let user = match state.store.user_by_id(org.id, current.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return back_to_account(&org),
        Err(e) => return unavailable(&org, &e),
    };
    match state
        .accounts
        .request_email_change(&org, &user, &form.new_email)
        .await
    {
        Ok(()) => {
            let notice = format!(
                "We sent a link to {}. Open it within 24 hours to start using that address.",
                form.new_email.trim()
            );
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::OK,
                Some(&notice),
                None,
            )
            .await
        }
        Err(
            e @ (crate::accounts::AccountError::InvalidEmail(_)
            | crate::accounts::AccountError::SameEmail),
        ) => {
            let text = e.to_string();
            show(
                &req,
                &state,
                &org,
                &current,
                StatusCode::BAD_REQUEST,
                None,
                Some(&text),
            )
            .await
        }
        Err(e) => unavailable(&org, &e),
    }
}
