//! The SAML identity provider's routes under `/o/{org}` (issue 20): the metadata document
//! for now; SSO and Single Logout come next. Thin: the org from the scope's middleware
//! (unknown 404, disabled 403, as discovery and the JWKS), one call to `SamlService`.

use crate::http::{CurrentOrg, failure_page, log_failure};
use crate::saml::METADATA_PATH;
use crate::saml::metadata::CONTENT_TYPE;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(METADATA_PATH, web::get().to(metadata));
}

/// `GET /o/{org}/saml/metadata`: the org's IdP metadata (SAML Metadata §2.4.3).
async fn metadata(org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    match state.saml.metadata(&org.0).await {
        // Short, like the JWKS: a rotation's new certificate must reach SPs within its lead.
        Ok(doc) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
            .body(doc),
        Err(e) => failure_page(log_failure(&e, "SAML metadata failed")),
    }
}
