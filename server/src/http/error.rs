//! Error pages and the mapping of domain errors to HTTP answers: the only place that decides
//! which status and body an error of ours becomes (`ResponseError` for `PageError`, `JsonError`
//! and the admin API's `ApiError`; `tenancy_error` for the org resolution).

use crate::admin_api::ApiError;
use crate::authn::webauthn::WebauthnFlowError;
use crate::oidc::{OidcError, OidcErrorCode};
use crate::tenancy::{Org, TenancyError};
use crate::text::html_escape;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use portcullis_api_types::{ErrorBody, FieldError, Problem};

/// A plain, self-contained HTML error page (no scripts, no external resources).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title></head><body><main><h1>{title}</h1><p>{message}</p></main></body></html>\n",
        title = html_escape(title),
        message = html_escape(message),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

/// Seconds an answer to an outage of the database or the cache asks the client to wait
/// (`Retry-After`) before trying again.
pub const OUTAGE_RETRY_AFTER_SECS: u32 = 5;

/// Adds `Retry-After: OUTAGE_RETRY_AFTER_SECS` to an answer to an outage.
pub fn retry_later(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(OUTAGE_RETRY_AFTER_SECS),
    );
    res
}

/// The page for a request that failed on our side, by kind: an outage of the database or the
/// cache is 503 "Temporarily unavailable" with `Retry-After`; anything else (a bug) is 500.
pub fn failure_page(outage: bool) -> HttpResponse {
    if outage {
        retry_later(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service cannot answer right now. Please try again in a moment.",
        ))
    } else {
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side. Please try again later.",
        )
    }
}

/// Logs a failed request by kind (an outage is a warning, anything else an error) and says
/// whether it was an outage.
pub fn log_failure(err: &(dyn std::error::Error + 'static), context: &str) -> bool {
    let outage = crate::store::is_outage(err);
    if outage {
        tracing::warn!(error = %err, "{context}: database or cache unavailable");
    } else {
        tracing::error!(error = %err, "{context}");
    }
    outage
}

fn json_error(status: StatusCode, error: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: error.to_owned(),
        message: message.to_owned(),
    })
}

/// The answer to a request its client sent too far ahead of its pace (`limits::Pacer`): 429
/// with `Retry-After`, as JSON for the script-driven endpoints, else as a page.
pub(crate) fn too_many_requests(json: bool, retry_after: chrono::Duration) -> HttpResponse {
    const MESSAGE: &str =
        "Too many requests from your network. Please wait a moment and try again.";
    let res = if json {
        json_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", MESSAGE)
    } else {
        error_page(StatusCode::TOO_MANY_REQUESTS, "Too many requests", MESSAGE)
    };
    super::pages::with_retry_after(res, retry_after)
}

pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    } else {
        error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
    }
}

/// How an org that cannot serve this request answers.
pub(crate) fn tenancy_error(err: &TenancyError) -> HttpResponse {
    match err {
        TenancyError::NotFound(_) | TenancyError::InvalidSlug(_) => error_page(
            StatusCode::NOT_FOUND,
            "Organization not found",
            "There is no organization at this address. Check the link you followed.",
        ),
        TenancyError::Disabled(_) => error_page(
            StatusCode::FORBIDDEN,
            "Organization disabled",
            "This organization has been disabled by its operator. Contact your administrator.",
        ),
        other => failure_page(log_failure(other, "org resolution failed")),
    }
}

/// Why a hosted page under `/o/{org}` could not be served: rendered as the org's branded
/// message page. Handlers return `Result<HttpResponse, PageError>` and use `?`; build one with
/// [`OrUnavailable::or_unavailable`] or the extractors (`http::extract`).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The form's CSRF token or its `Origin` did not check out (403 "Form expired").
    #[error("CSRF check failed")]
    CsrfRefused(Box<Org>),
    /// A failure on our side, by kind: an outage of the database or the cache is 503 with
    /// `Retry-After`, anything else (a bug) 500. Logged where it was made.
    #[error("request failed (outage: {outage})")]
    Failure { org: Box<Org>, outage: bool },
    /// Not signed in (or half signed in): on to `location`, the sign-in step to take.
    #[error("sign-in needed")]
    SignInFirst { location: String },
}

impl PageError {
    /// A failure on our side, logged by kind.
    pub fn failure(org: &Org, err: &(dyn std::error::Error + 'static)) -> Self {
        Self::Failure {
            org: Box::new(org.clone()),
            outage: log_failure(err, "request failed"),
        }
    }
}

impl actix_web::ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::CsrfRefused(_) => StatusCode::FORBIDDEN,
            Self::Failure { outage: true, .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failure { outage: false, .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SignInFirst { .. } => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::CsrfRefused(org) => super::pages::csrf_refused(org),
            Self::Failure { org, outage } => super::pages::failure(org, *outage),
            Self::SignInFirst { location } => super::pages::see_other(location, []),
        }
    }
}

/// `?` for a fallible call in a page handler: an error becomes the org's failure page.
pub trait OrUnavailable<T> {
    fn or_unavailable(self, org: &Org) -> Result<T, PageError>;
}

impl<T, E: std::error::Error + 'static> OrUnavailable<T> for Result<T, E> {
    fn or_unavailable(self, org: &Org) -> Result<T, PageError> {
        self.map_err(|e| PageError::failure(org, &e))
    }
}

/// The answer of a script-driven (JSON) endpoint of the hosted pages, such as the WebAuthn
/// ceremonies: `{"error", "message"}` with `no-store`, and `Retry-After` where it applies.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct JsonError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<chrono::Duration>,
}

impl JsonError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure on our side, by kind (503 with `Retry-After` for an outage, else 500).
    pub fn failure(err: &(dyn std::error::Error + 'static), context: &str) -> Self {
        if log_failure(err, context) {
            let mut e = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Please try again in a moment.",
            );
            e.retry_after = Some(chrono::Duration::seconds(i64::from(
                OUTAGE_RETRY_AFTER_SECS,
            )));
            e
        } else {
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong on our side. Please try again later.",
            )
        }
    }
}

impl actix_web::ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let res = HttpResponse::build(self.status)
            .insert_header(("Cache-Control", "no-store"))
            .json(ErrorBody {
                error: self.code.to_owned(),
                message: self.message.clone(),
            });
        match self.retry_after {
            Some(after) => super::pages::with_retry_after(res, after),
            None => res,
        }
    }
}

impl From<WebauthnFlowError> for JsonError {
    fn from(err: WebauthnFlowError) -> Self {
        use WebauthnFlowError as E;
        let status = match &err {
            E::UnknownFlow | E::NoPendingLogin | E::InvalidName | E::Duplicate => {
                StatusCode::BAD_REQUEST
            }
            E::Rejected => StatusCode::UNAUTHORIZED,
            E::WrongStep | E::KeyTooNew | E::ReauthRequired | E::EmailNotVerified => {
                StatusCode::FORBIDDEN
            }
            E::Setup(reason) => {
                tracing::warn!(%reason, "webauthn unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::Authn(_) => return Self::failure(&err, "webauthn ceremony failed"),
        };
        let code = match &err {
            E::UnknownFlow | E::NoPendingLogin => "flow_expired",
            E::Rejected => "rejected",
            E::WrongStep => "wrong_step",
            E::KeyTooNew => "key_too_new",
            E::ReauthRequired => "reauthentication_required",
            E::EmailNotVerified => "email_not_verified",
            E::InvalidName | E::Duplicate => "invalid_request",
            E::Setup(_) | E::Authn(_) => "unavailable",
        };
        Self::new(status, code, err.to_string())
    }
}

/// An RFC 9457 problem of the admin API, with `no-store`.
fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: &str,
    errors: Vec<FieldError>,
) -> HttpResponse {
    let body = Problem {
        problem_type: format!("urn:portcullis:problem:{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        errors,
    };
    let mut res = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/problem+json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(serde_json::to_string(&body).unwrap_or_default());
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis-admin\", error=\"invalid_token\""),
        );
    }
    res
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (kind, title) = match self {
            Self::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::Invalid(_) => ("invalid", "Invalid request"),
            Self::Internal(_) => ("internal", "Internal error"),
            Self::Unavailable(_) => ("unavailable", "Temporarily unavailable"),
            Self::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
        };
        let (detail, errors) = match self {
            Self::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (detail, errors.clone())
            }
            other => (other.to_string(), vec![]),
        };
        let mut res = problem(status, kind, title, &detail, errors);
        match self {
            Self::Unavailable(_) => res = retry_later(res),
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        res
    }
}

/// An OAuth 2.0 error of the token, introspection and revocation endpoints (RFC 6749 §5.2):
/// JSON with `no-store`; `invalid_client` is 401 with a Basic challenge naming the issuer,
/// `temporarily_unavailable` (the database or cache is away) 503 with `Retry-After`,
/// `server_error` 500, the rest 400.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct OAuthError {
    issuer: String,
    error: OidcError,
}

impl OAuthError {
    pub fn new(issuer: &str, error: OidcError) -> Self {
        Self {
            issuer: issuer.to_owned(),
            error,
        }
    }
}

impl actix_web::ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.error.code {
            OidcErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OidcErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OidcErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.error;
        let mut res = HttpResponse::build(self.status_code())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(
                serde_json::json!({ "error": e.code.as_str(), "error_description": e.description }),
            );
        if e.code == OidcErrorCode::InvalidClient
            && let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.issuer))
        {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if e.code == OidcErrorCode::TemporarilyUnavailable {
            res = retry_later(res);
        }
        res
    }
}
