//! Extractors: the checks every handler of a kind needs, made before the handler runs, so a
//! handler that has its arguments has passed them.
//!
//! | extractor | contract | refused with |
//! |---|---|---|
//! | `MaybeSession` | the browser's live session in this org, or `None` | a failed look-up: `PageError::Failure` (503/500), never "not signed in" |
//! | `CurrentSession` | a live session | none: `PageError::SignInFirst` (303 to the sign-in step, then back) |
//! | `CsrfForm<T>` | a form whose CSRF token and `Origin` check out | `PageError::CsrfRefused` (403 "Form expired"); a malformed form is actix's 400 |
//! | `Checked<T, X>` | `CsrfForm<T>`, then the extractor `X` (a session), in that order | the first refusal |
//! | `CsrfHeader` | a script request whose `X-CSRF-Token` and `Origin` check out | `JsonError` 403 `csrf` |
//! | `AdminScope` | an admin API caller with an admin role and the `{org}` of the path it may manage | `ApiError` 401/403 |
//! | `Caller` | an admin API caller, org not checked (operators' routes) | `ApiError` 401 |
//!
//! The org comes from `CurrentOrg`, which the `/o/{org}` scope's middleware has set.

use super::error::{JsonError, PageError};
use super::org::CurrentOrg;
use super::pages::{ACCOUNT_PATH, LOGIN_PATH, PENDING_COOKIE, csrf_ok, org_path, session_token};
use crate::admin_api::{Principal, service as admin};
use crate::sessions::{Session, SessionError};
use crate::state::AppState;
use crate::tenancy::Org;
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// The application state of a request.
pub fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, actix_web::Error> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("application state missing"))
}

/// The org of a request under `/o/{org}`.
pub fn current_org(req: &HttpRequest) -> Result<Org, actix_web::Error> {
    req.extensions()
        .get::<CurrentOrg>()
        .map(|o| o.0.clone())
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("org scope missing"))
}

/// The browser's session in `org`, if any; a failed look-up is an error, never "not signed in".
pub async fn session_of(
    req: &HttpRequest,
    state: &AppState,
    org: &Org,
) -> Result<Option<Session>, SessionError> {
    match session_token(req) {
        Some(token) => state.sessions.current(org.id, &token).await,
        None => Ok(None),
    }
}

/// The browser's live session in this org, if it has one.
pub struct MaybeSession(pub Option<Session>);

impl FromRequest for MaybeSession {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, org) = (app_state(&req)?, current_org(&req)?);
            let session = session_of(&req, &state, &org)
                .await
                .map_err(|e| PageError::failure(&org, &e))?;
            Ok(Self(session))
        })
    }
}

/// A live session: without one the browser is sent to sign in (or to the key step it has
/// still to take), and back here afterwards (a form post comes back to the account page).
pub struct CurrentSession(pub Session);

impl FromRequest for CurrentSession {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let maybe = MaybeSession::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            if let MaybeSession(Some(session)) = maybe.await? {
                return Ok(Self(session));
            }
            let (state, org) = (app_state(&req)?, current_org(&req)?);
            let base = org_path(&org);
            // A page's query comes back too (the device page's prefilled user code).
            let back = if req.method() == Method::GET {
                req.uri()
                    .path_and_query()
                    .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned())
            } else {
                format!("{base}{ACCOUNT_PATH}")
            };
            let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            // Half signed in (password done, key still to come): continue there, not from scratch.
            let step = match req.cookie(PENDING_COOKIE) {
                Some(p) => state.webauthn.pending_step(&org, p.value()).await,
                None => None,
            };
            let path = match step {
                Some(step) => format!("{base}/login/{step}"),
                None => format!("{base}{LOGIN_PATH}"),
            };
            Err(PageError::SignInFirst {
                location: format!("{path}?return_to={back}"),
            }
            .into())
        })
    }
}

/// A form that carries the CSRF token in its `csrf` field.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfField`] for forms with a `csrf: String` field.
#[macro_export]
macro_rules! csrf_forms {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::http::extract::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}

/// Just the token: for forms with nothing else in them.
#[derive(serde::Deserialize)]
pub struct TokenOnly {
    #[serde(default)]
    pub csrf: String,
}

crate::csrf_forms!(TokenOnly);

/// A urlencoded form that passed the CSRF check (double-submit token and `Origin`).
pub struct CsrfForm<T>(pub T);

impl<T> CsrfForm<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for CsrfForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + CsrfField + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<T>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let form = form.await?.into_inner();
            let state = app_state(&req)?;
            if !csrf_ok(&req, &state, form.csrf()) {
                return Err(PageError::CsrfRefused(Box::new(current_org(&req)?)).into());
            }
            Ok(Self(form))
        })
    }
}

/// A CSRF-checked form, then `X` (a session extractor): actix polls a handler's extractors
/// together, so a session look-up (which may touch or end the session) taken as a separate
/// argument could run before the form is checked. Here it runs only after the check passed.
pub struct Checked<F, X>(pub F, pub X);

impl<F, X> FromRequest for Checked<F, X>
where
    F: DeserializeOwned + CsrfField + 'static,
    X: FromRequest + 'static,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = CsrfForm::<F>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let CsrfForm(form) = form.await?;
            let then = X::from_request(&req, &mut Payload::None)
                .await
                .map_err(Into::into)?;
            Ok(Self(form, then))
        })
    }
}

/// A script request of the hosted pages (JSON bodies only, which a cross-site form cannot
/// send) whose `X-CSRF-Token` header and `Origin` check out.
pub struct CsrfHeader;

impl FromRequest for CsrfHeader {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let checked = app_state(req).and_then(|state| {
            if csrf_ok(req, &state, token) {
                Ok(Self)
            } else {
                Err(JsonError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "This page has expired; reload it and try again.",
                )
                .into())
            }
        });
        std::future::ready(checked)
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let raw = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    raw.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

/// The admin API caller (a verified bearer token of an admin), org not checked.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let token = bearer(&req);
            let who = admin::authenticate(&state, token.as_deref()).await?;
            Ok(Self(who))
        })
    }
}

/// The admin API caller and the org of the path (`{org}`) they may manage.
pub struct AdminScope {
    pub who: Principal,
    pub org: Org,
}

impl FromRequest for AdminScope {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let Caller(who) = caller.await?;
            let state = app_state(&req)?;
            let slug = req.match_info().get("org").unwrap_or_default();
            let org = admin::org_for(&state, &who, slug).await?;
            Ok(Self { who, org })
        })
    }
}
