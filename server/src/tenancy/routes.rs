//! Routes under `/o/{org}`: the scope every org endpoint lives in, guarded by org resolution.

use crate::http::{CurrentOrg, error_page};
use crate::state::AppState;
use crate::text::html_escape;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

/// The org's own routes inside its scope (`crate::routes::ORG_SCOPE`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(org_home))
        .route("/", web::get().to(org_home));
}

/// The org's landing page (the sign-in page replaces it in the next issue).
async fn org_home(org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    let org = org.0;
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}</title></head>\
<body><main><h1>{name}</h1><p>Issuer: <code>{issuer}</code></p>\
<p><a href=\"/o/{slug}/account\">Your account</a></p></main></body></html>\n",
        name = html_escape(&org.name),
        issuer = html_escape(&org.issuer(state.config.public_url())),
        slug = org.slug,
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Anything else under an org.
pub async fn org_not_found(_org: CurrentOrg) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "This organization has no page at this address.",
    )
}
