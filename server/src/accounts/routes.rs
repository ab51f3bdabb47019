//! The account page `/o/{org}/account`: profile, the SAML apps to open from here
//! (IdP-initiated SSO, `http::saml`), "where you're signed in", signing sessions out, changing
//! the password.

use crate::authn::PasswordChange;
use crate::authn::webauthn::WebauthnFlowError;
use crate::http::extract::{Checked, CurrentSession, TokenOnly, app_state, current_org};
use crate::http::pages::{ACCOUNT_PATH, client_ip, csrf_token, org_path, render, see_other};
use crate::http::saml::IDP_INITIATED_PATH;
use crate::http::{CurrentOrg, OrUnavailable, PageError};
use crate::oidc::{AppSession, AppSessionId};
use crate::sessions::{EndReason, Session, SessionError, SessionId};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(ACCOUNT_PATH, web::get().to(account_page))
        .route("/account/sessions/end-others", web::post().to(end_others))
        .route("/account/sessions/end-all", web::post().to(end_all))
        .route("/account/sessions/{id}/end", web::post().to(end_one))
        .route("/account/apps/{id}/end", web::post().to(end_app))
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
    /// The apps signed in through this session.
    apps: Vec<AppRow>,
}

/// An app the user is signed in to: its app session.
struct AppRow {
    id: String,
    name: String,
    started: String,
}

/// A SAML app the user may open from here (IdP-initiated SSO): a form posting to `action`.
struct StartRow {
    name: String,
    action: String,
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
    /// Apps still signed in after the session they started in ended.
    outliving: Vec<AppRow>,
    /// The org's SAML apps that can be opened from here.
    startable: Vec<StartRow>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The page handlers' result.
type Page = Result<HttpResponse, PageError>;

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The account page of the signed-in user, shown again after each change with what happened.
/// As an extractor: a request with a live session (`CurrentSession`) in its org.
struct Account {
    req: HttpRequest,
    state: web::Data<AppState>,
    org: Org,
    current: Session,
}

impl FromRequest for Account {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentSession::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let CurrentSession(current) = current.await?;
            Ok(Self {
                state: app_state(&req)?,
                org: current_org(&req)?,
                req,
                current,
            })
        })
    }
}

impl Account {
    /// The page with a notice (200).
    async fn notice(&self, notice: &str) -> Page {
        self.show(StatusCode::OK, Some(notice), None).await
    }

    /// The page with an error, as `status`.
    async fn error(&self, status: StatusCode, error: &str) -> Page {
        self.show(status, None, Some(error)).await
    }

    async fn show(&self, status: StatusCode, notice: Option<&str>, error: Option<&str>) -> Page {
        let (state, org, current) = (&self.state, &self.org, &self.current);
        let Some(user) = state
            .accounts
            .user(org, current.user_id)
            .await
            .or_unavailable(org)?
        else {
            tracing::error!("account page: a live session without its user");
            return Err(PageError::Failure {
                org: Box::new(org.clone()),
                outage: false,
            });
        };
        let sessions = state
            .sessions
            .list(org.id, current.user_id)
            .await
            .or_unavailable(org)?;
        let credentials = state
            .webauthn
            .credentials(org, current.user_id)
            .await
            .or_unavailable(org)?;
        let consents = state
            .oidc
            .consents(org, current.user_id)
            .await
            .or_unavailable(org)?;
        let apps = state
            .oidc
            .user_app_sessions(org, current.user_id)
            .await
            .or_unavailable(org)?;
        let startable = startable(state, org).await?;
        let (csrf, set) = csrf_token(&self.req, state, org);
        let page = AccountPage {
            credentials: credentials.into_iter().map(credential_row).collect(),
            consents: consents
                .into_iter()
                .map(|c| ConsentView {
                    app_id: c.app_id.to_string(),
                    app_name: c.app_name,
                    scope: c.scope,
                    granted: when(c.granted_at),
                })
                .collect(),
            org_name: &org.name,
            org_path: org_path(org),
            logo_url: org.branding.logo_url.as_deref(),
            csrf: &csrf,
            email: user.email.as_str(),
            name: user.name.as_deref(),
            sessions: sessions
                .iter()
                .map(|s| session_row(s, current, &apps))
                .collect(),
            outliving: apps
                .iter()
                .filter(|(a, _)| !sessions.iter().any(|s| s.id == a.session_id))
                .map(app_row)
                .collect(),
            startable,
            notice,
            error,
        };
        Ok(render(status, &page, set))
    }
}

/// The org's SAML apps to open from the account page (IdP-initiated SSO), as forms.
async fn startable(state: &AppState, org: &Org) -> Result<Vec<StartRow>, PageError> {
    let apps = state
        .apps
        .idp_initiated_saml_apps(org.id)
        .await
        .or_unavailable(org)?;
    Ok(apps
        .into_iter()
        .map(|(id, name)| StartRow {
            name,
            action: format!("{}{IDP_INITIATED_PATH}/{id}", org_path(org)),
        })
        .collect())
}

fn session_row(s: &Session, current: &Session, apps: &[(AppSession, String)]) -> SessionRow {
    SessionRow {
        id: s.id.to_string(),
        device: crate::sessions::device_name(s.user_agent.as_deref()),
        ip: s.ip.clone().unwrap_or_default(),
        started: when(s.created_at),
        last_active: when(s.last_seen_at),
        current: s.id == current.id,
        apps: apps
            .iter()
            .filter(|(a, _)| a.session_id == s.id)
            .map(app_row)
            .collect(),
    }
}

fn app_row((a, name): &(AppSession, String)) -> AppRow {
    AppRow {
        id: a.id.0.to_string(),
        name: name.clone(),
        started: when(a.created_at),
    }
}

fn credential_row(c: crate::store::StoredCredential) -> CredentialRow {
    CredentialRow {
        id: c.id.to_string(),
        name: c.name,
        kind: if c.kind == "passkey" {
            "passkey"
        } else {
            "security key"
        },
        created: when(c.created_at),
        last_used: c.last_used_at.map(when),
    }
}

#[derive(Deserialize)]
struct AccountQuery {
    #[serde(default)]
    recovered: Option<String>,
}

async fn account_page(q: web::Query<AccountQuery>, account: Account) -> Page {
    // After a recovery code the user is asked to replace the lost key.
    let notice = q.recovered.as_ref().map(|_| "You signed in with a recovery code. Add a new security key below, and generate new recovery codes.");
    account.show(StatusCode::OK, notice, None).await
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    codes: Vec<String>,
}

async fn recovery_codes(Checked(_, account): Checked<TokenOnly, Account>) -> Page {
    let Account {
        state,
        org,
        current,
        ..
    } = &account;
    match state.webauthn.regenerate_recovery_codes(org, current).await {
        Ok(codes) => {
            let page = RecoveryCodesPage {
                org_name: &org.name,
                org_path: org_path(org),
                logo_url: org.branding.logo_url.as_deref(),
                codes,
            };
            Ok(render(StatusCode::OK, &page, []))
        }
        Err(WebauthnFlowError::ReauthRequired) => {
            account
                .error(
                    StatusCode::FORBIDDEN,
                    "Please sign out and sign in again before generating recovery codes.",
                )
                .await
        }
        Err(e) => Err(PageError::failure(org, &e)),
    }
}

fn back_to_account(org: &Org) -> Page {
    Ok(see_other(&format!("{}{ACCOUNT_PATH}", org_path(org)), []))
}

/// The id in the path (`/account/…/{id}/…`), if it is one.
fn path_id(path: &(String, String)) -> Option<uuid::Uuid> {
    path.1.parse().ok()
}

async fn end_one(
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Checked(_, CurrentSession(current)): Checked<TokenOnly, CurrentSession>,
) -> Page {
    let org = org.0;
    let Some(id) = path_id(&path) else {
        return back_to_account(&org);
    };
    let reason = EndReason::SignedOutElsewhere;
    match state
        .sessions
        .end_own(org.id, current.user_id, SessionId(id), reason)
        .await
    {
        Ok(_) | Err(SessionError::NotFound) => back_to_account(&org),
        Err(e) => Err(PageError::failure(&org, &e)),
    }
}

/// Signs the user out of one app (local logout): its app session ends and the app is told;
/// the IdP session and the other apps go on.
async fn end_app(
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Checked(_, CurrentSession(current)): Checked<TokenOnly, CurrentSession>,
) -> Page {
    let org = org.0;
    let Some(id) = path_id(&path) else {
        return back_to_account(&org);
    };
    state
        .oidc
        .sign_out_of_app(&org, current.user_id, AppSessionId(id))
        .await
        .or_unavailable(&org)?;
    back_to_account(&org)
}

/// Withdraws the consent given to a third-party app; its sessions of the user end.
async fn revoke_consent(
    org: CurrentOrg,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Checked(_, CurrentSession(current)): Checked<TokenOnly, CurrentSession>,
) -> Page {
    let org = org.0;
    let Some(id) = path_id(&path) else {
        return back_to_account(&org);
    };
    state
        .oidc
        .revoke_consent(&org, current.user_id, crate::apps::AppId(id))
        .await
        .or_unavailable(&org)?;
    back_to_account(&org)
}

/// Ends the user's sessions (`keep`: all but this one), every app told.
async fn end_sessions(
    state: &AppState,
    org: &Org,
    current: &Session,
    keep: Option<SessionId>,
) -> Result<(), PageError> {
    let actor = format!("user:{}", current.user_id);
    let reason = EndReason::UserSignedOutEverywhere;
    state
        .sessions
        .end_user_sessions(org.id, current.user_id, keep, reason, &actor)
        .await
        .or_unavailable(org)?;
    Ok(())
}

/// Sign out everywhere: every IdP session of the user, this one included, and every app
/// session (outliving ones too) end; every app is notified.
async fn end_all(
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(_, CurrentSession(current)): Checked<TokenOnly, CurrentSession>,
) -> Page {
    let org = org.0;
    end_sessions(&state, &org, &current, None).await?;
    Ok(crate::slo::routes::signed_out(&state, &org, Some(current.id), None, true).await)
}

async fn end_others(
    org: CurrentOrg,
    state: web::Data<AppState>,
    Checked(_, CurrentSession(current)): Checked<TokenOnly, CurrentSession>,
) -> Page {
    let org = org.0;
    end_sessions(&state, &org, &current, Some(current.id)).await?;
    back_to_account(&org)
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

async fn change_password(Checked(form, account): Checked<PasswordForm, Account>) -> Page {
    let Account {
        state,
        org,
        current,
        req,
    } = &account;
    let result = state
        .login
        .change_password(
            org,
            current,
            &form.current_password,
            &form.new_password,
            form.end_other_sessions.is_some(),
            &client_ip(req, state),
        )
        .await;
    match result {
        Ok(PasswordChange::Changed { ended_sessions: 0 }) => {
            account.notice("Your password was changed.").await
        }
        Ok(PasswordChange::Changed { ended_sessions }) => {
            let notice = format!(
                "Your password was changed and {ended_sessions} other session(s) were signed out."
            );
            account.notice(&notice).await
        }
        Ok(PasswordChange::Throttled { retry_after }) => {
            let text = "Too many attempts. Please wait a moment and try again.";
            let res = account.error(StatusCode::TOO_MANY_REQUESTS, text).await?;
            Ok(crate::http::pages::with_retry_after(res, retry_after))
        }
        Ok(PasswordChange::WrongCurrentPassword) => {
            let text = "The current password is incorrect.";
            account.error(StatusCode::BAD_REQUEST, text).await
        }
        Err(crate::authn::AuthnError::InvalidPassword(e)) => {
            account.error(StatusCode::BAD_REQUEST, &e.to_string()).await
        }
        Err(e) => Err(PageError::failure(org, &e)),
    }
}

async fn remove_credential(
    path: web::Path<(String, String)>,
    Checked(_, account): Checked<TokenOnly, Account>,
) -> Page {
    let Account {
        state,
        org,
        current,
        ..
    } = &account;
    let Some(id) = path_id(&path) else {
        return back_to_account(org);
    };
    match state.webauthn.remove(org, current, id).await {
        Ok(()) => account.notice("The key was removed.").await,
        Err(WebauthnFlowError::ReauthRequired) => {
            let text = "Please sign out and sign in again before removing a key.";
            account.error(StatusCode::FORBIDDEN, text).await
        }
        Err(WebauthnFlowError::Rejected) => back_to_account(org),
        Err(e) => Err(PageError::failure(org, &e)),
    }
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn rename_credential(
    path: web::Path<(String, String)>,
    Checked(form, account): Checked<RenameForm, Account>,
) -> Page {
    let Account {
        state,
        org,
        current,
        ..
    } = &account;
    let Some(id) = path_id(&path) else {
        return back_to_account(org);
    };
    match state.webauthn.rename(org, current, id, &form.name).await {
        Ok(()) | Err(WebauthnFlowError::Rejected) => back_to_account(org),
        Err(WebauthnFlowError::InvalidName) => {
            let text = "A key's name must be 1-100 characters.";
            account.error(StatusCode::BAD_REQUEST, text).await
        }
        Err(e) => Err(PageError::failure(org, &e)),
    }
}

#[derive(Deserialize)]
struct EmailChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_email: String,
}

crate::csrf_forms!(PasswordForm, RenameForm, EmailChangeForm);

/// Sends the confirmation link to the new address; needs a recent sign-in (as adding a key
/// does), since whoever controls the address can reset the password.
async fn change_email(Checked(form, account): Checked<EmailChangeForm, Account>) -> Page {
    let Account {
        state,
        org,
        current,
        ..
    } = &account;
    if state.webauthn.require_recent(current).is_err() {
        let text = "Please sign out and sign in again before changing your email address.";
        return account.error(StatusCode::FORBIDDEN, text).await;
    }
    let Some(user) = state
        .accounts
        .user(org, current.user_id)
        .await
        .or_unavailable(org)?
    else {
        return back_to_account(org);
    };
    match state
        .accounts
        .request_email_change(org, &user, &form.new_email)
        .await
    {
        Ok(()) => {
            let notice = format!(
                "We sent a link to {}. Open it within 24 hours to start using that address.",
                form.new_email.trim()
            );
            account.notice(&notice).await
        }
        Err(
            e @ (crate::accounts::AccountError::InvalidEmail(_)
            | crate::accounts::AccountError::SameEmail),
        ) => account.error(StatusCode::BAD_REQUEST, &e.to_string()).await,
        Err(e) => Err(PageError::failure(org, &e)),
    }
}
