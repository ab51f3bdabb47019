//! Error pages and the mapping of domain errors to HTTP answers.

use crate::tenancy::TenancyError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use portcullis_api_types::ErrorBody;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(OUTAGE_RETRY_AFTER_SECS),
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
