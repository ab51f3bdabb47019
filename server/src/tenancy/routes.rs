//! Routes under `/o/{org}`: the scope every org endpoint lives in, guarded by org resolution.

use crate::http::pages::{org_path, render};
use crate::http::{CurrentOrg, error_page};
use crate::state::AppState;
use crate::tenancy::SignupMode;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

/// The org's own routes inside its scope (`crate::routes::ORG_SCOPE`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(org_home))
        .route("/", web::get().to(org_home));
}

#[derive(Template)]
#[template(path = "org_home.html")]
struct OrgHomePage<'a> {
    org_name: &'a str,
    org_path: String,
    logo_url: Option<&'a str>,
    issuer: String,
    signup_open: bool,
}

/// The org's landing page, with its branding: sign in, sign up (when open), the account page,
/// and the issuer for developers.
async fn org_home(org: CurrentOrg, state: web::Data<AppState>) -> HttpResponse {
    let org = org.0;
    let page = OrgHomePage {
        org_name: &org.name,
        org_path: org_path(&org),
        logo_url: org.branding.logo_url.as_deref(),
        issuer: org.issuer(state.config.public_url()),
        signup_open: org.signup.mode == SignupMode::Open,
    };
    render(StatusCode::OK, &page, [])
}

/// Anything else under an org.
pub async fn org_not_found(_org: CurrentOrg) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "This organization has no page at this address.",
    )
}
