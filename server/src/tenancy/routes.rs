//! Routes under `/o/{org}`: the scope every org endpoint lives in, guarded by org resolution.

use crate::app::AppState;
use crate::http::{CurrentOrg, error_page, html_escape};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

/// Path of an org's scope; `{org}` is the slug. Shared with the issuer built by `Org::issuer`.
pub const ORG_SCOPE: &str = "/o/{org}";

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Public metadata first, outside the scope: it resolves its org from the node's own copy
    // (`OrgService::resolve_public`), not through the scope's `resolve_org`.
    cfg.route(
        &format!("{ORG_SCOPE}{}", crate::oidc::routes::DISCOVERY_PATH),
        web::get().to(crate::oidc::routes::discovery),
    );
    cfg.service(
        web::scope(ORG_SCOPE)
            .wrap(from_fn(crate::http::org::resolve_org))
            // Outermost: a client over its pace waits or is refused before anything is read.
            .wrap(from_fn(crate::http::org::pace_anonymous))
            .route("", web::get().to(org_home))
            .route("/", web::get().to(org_home))
            .configure(crate::authn::routes::configure)
            .configure(crate::accounts::routes::configure)
            .configure(crate::accounts::links::configure)
            .configure(crate::oidc::routes::configure)
            .configure(crate::slo::routes::configure)
            .default_service(web::to(org_not_found)),
    );
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

async fn org_not_found(_org: CurrentOrg) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "This organization has no page at this address.",
    )
}
