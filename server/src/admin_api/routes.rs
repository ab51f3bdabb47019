//! `/api/v1` routes: thin handlers over `admin_api::service`, every one annotated for the
//! OpenAPI document at `/api/v1/openapi.json`. Routes are declared once (`api_routes!`), which
//! registers them and lists them in `ROUTES`; a test fails when one is missing from the document.

use super::error::ApiError;
use super::service;
use crate::http::extract::{AdminScope, Caller};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use portcullis_api_types::{
    ActivityHour, AppCreateRequest, AppDeliveryStats, AppSessionView, AppUpdateRequest, AppView,
    AppWithSecret, AuditEventView, AuditSinkRequest, AuditSinkStatusView, AuditSinkView,
    ConsoleClient, CredentialView, DeliveryView, DeploymentInfo, EmailPreviewView,
    EmailTemplateRequest, EmailTemplateView, FieldError, OrgCreateRequest, OrgView, Page,
    PendingLinkView, Problem, RevokeOutcome, SamlAcsRequest, SamlAcsView, SamlAppRequest,
    SamlAppView, SessionPolicyView, SessionRulesView, SessionView, SigningKeyView,
    SignupPolicyView, SpMetadataImport, SpMetadataRequest, TestLogoutView, UserCreateRequest,
    UserUpdateRequest, UserView,
};
use serde::Deserialize;
use utoipa::OpenApi;

pub const API_PREFIX: &str = "/api/v1";

/// Declares each route once: registers it and lists it for the OpenAPI coverage test.
macro_rules! api_routes {
    ($(($method:ident, $path:literal, $handler:path)),* $(,)?) => {
        /// Every route of the API: (method, path under `/api/v1`).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn configure(cfg: &mut web::ServiceConfig) {
            cfg.service(web::scope(API_PREFIX)
                $(.route($path, web::$method().to($handler)))*);
        }
    };
}

api_routes![
    (get, "/deployment", deployment),
    (get, "/openapi.json", openapi_json),
    (get, "/console-client", console_client),
    (get, "/orgs", list_orgs),
    (post, "/orgs", create_org),
    (post, "/orgs/{org}/disable", disable_org),
    (post, "/orgs/{org}/enable", enable_org),
    (get, "/orgs/{org}/apps", list_apps),
    (post, "/orgs/{org}/apps", create_app),
    (get, "/orgs/{org}/apps/{id}", get_app),
    (patch, "/orgs/{org}/apps/{id}", update_app),
    (delete, "/orgs/{org}/apps/{id}", delete_app),
    (post, "/orgs/{org}/apps/{id}/secret", rotate_secret),
    (post, "/orgs/{org}/apps/{id}/test-logout", test_logout),
    (get, "/orgs/{org}/apps/{id}/sessions", app_sessions),
    (post, "/orgs/{org}/saml/sp-metadata", read_sp_metadata),
    (get, "/orgs/{org}/sessions", list_sessions),
    (get, "/orgs/{org}/sessions/{id}", get_session),
    (post, "/orgs/{org}/sessions/{id}/revoke", revoke_session),
    (
        post,
        "/orgs/{org}/app-sessions/{id}/revoke",
        revoke_app_session
    ),
    (get, "/orgs/{org}/users/{id}/sessions", user_sessions),
    (
        post,
        "/orgs/{org}/users/{id}/sign-out-everywhere",
        sign_out_user
    ),
    (get, "/orgs/{org}/logout-deliveries", list_deliveries),
    (
        post,
        "/orgs/{org}/logout-deliveries/{id}/retry",
        retry_delivery
    ),
    (get, "/orgs/{org}/signing-keys", list_keys),
    (post, "/orgs/{org}/signing-keys/rotate", rotate_key),
    (get, "/orgs/{org}/users", list_users),
    (post, "/orgs/{org}/users", create_user),
    (get, "/orgs/{org}/users/{id}", get_user),
    (patch, "/orgs/{org}/users/{id}", update_user),
    (delete, "/orgs/{org}/users/{id}", delete_user),
    (post, "/orgs/{org}/users/{id}/disable", disable_user),
    (post, "/orgs/{org}/users/{id}/enable", enable_user),
    (post, "/orgs/{org}/users/{id}/reset-mfa", reset_mfa),
    (post, "/orgs/{org}/users/{id}/invite", invite_user),
    (get, "/orgs/{org}/session-policy", get_policy),
    (put, "/orgs/{org}/session-policy", put_policy),
    (get, "/orgs/{org}/signup-policy", get_signup_policy),
    (put, "/orgs/{org}/signup-policy", put_signup_policy),
    (get, "/orgs/{org}/email-templates", list_email_templates),
    (
        put,
        "/orgs/{org}/email-templates/{kind}",
        put_email_template
    ),
    (
        delete,
        "/orgs/{org}/email-templates/{kind}",
        delete_email_template
    ),
    (
        post,
        "/orgs/{org}/email-templates/{kind}/preview",
        preview_email_template
    ),
    (get, "/orgs/{org}/audit-events", audit_events),
    (get, "/orgs/{org}/audit-sink", get_audit_sink),
    (put, "/orgs/{org}/audit-sink", put_audit_sink),
    (delete, "/orgs/{org}/audit-sink", delete_audit_sink),
    (get, "/orgs/{org}/activity", activity),
    (get, "/orgs/{org}/delivery-stats", delivery_stats),
];

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token issued by Portcullis to an app with the admin role",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis admin API", description = "Manage an org: apps, sessions, logout deliveries, signing keys. Errors are RFC 9457 problems."),
    paths(
        deployment, openapi_json, console_client, list_orgs, create_org, disable_org, enable_org,
        list_apps, update_app, create_app, get_app, delete_app, rotate_secret, test_logout,
        app_sessions, delivery_stats, read_sp_metadata,
        list_sessions, get_session, revoke_session, revoke_app_session, user_sessions,
        sign_out_user, list_deliveries, retry_delivery, list_keys,
        rotate_key, list_users, create_user, get_user, update_user, delete_user, disable_user,
        enable_user, reset_mfa, invite_user, get_policy, put_policy, audit_events, activity,
        get_signup_policy, put_signup_policy, list_email_templates, put_email_template,
        delete_email_template, preview_email_template, get_audit_sink, put_audit_sink,
        delete_audit_sink
    ),
    components(schemas(
        Problem, FieldError, AppView, AppCreateRequest, AppWithSecret, SessionRulesView,
        SessionView, AppSessionView, RevokeOutcome, TestLogoutView, DeliveryView, SigningKeyView, DeploymentInfo, ConsoleClient, AppUpdateRequest, OrgView, OrgCreateRequest, UserView,
        CredentialView, UserCreateRequest, UserUpdateRequest, SessionPolicyView, AuditEventView,
        ActivityHour, AppDeliveryStats, PendingLinkView, SignupPolicyView, EmailTemplateView, EmailTemplateRequest, EmailPreviewView,
        SamlAppView, SamlAcsView, SamlAppRequest, SamlAcsRequest, AuditSinkView,
        AuditSinkStatusView, AuditSinkRequest, SpMetadataRequest, SpMetadataImport
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct Paging {
    /// Page number, from 1.
    page: Option<u64>,
    /// Items per page, 1–200 (default 50).
    per_page: Option<u64>,
}

/// A list held in memory, paged here (signing keys only: an org has a handful).
fn page_response<T: serde::Serialize>(items: Vec<T>, p: &Paging) -> Result<HttpResponse, ApiError> {
    Ok(json(
        StatusCode::OK,
        &service::paginate(items, p.page, p.per_page)?,
    ))
}

/// A page the service read from the database.
fn paged<T: serde::Serialize>(page: Page<T>) -> Result<HttpResponse, ApiError> {
    Ok(json(StatusCode::OK, &page))
}

/// Public facts about this deployment (no token needed).
#[utoipa::path(get, path = "/api/v1/deployment", security(()), responses((status = 200, body = DeploymentInfo)))]
async fn deployment(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(DeploymentInfo {
        name: state.config.deployment.name.clone(),
        version: crate::VERSION.to_owned(),
    })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", security(()), responses((status = 200, description = "The OpenAPI document")))]
async fn openapi_json() -> Result<HttpResponse, ApiError> {
    let doc = ApiDoc::openapi().to_json().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(doc))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ConsoleQuery {
    /// The org to sign in to.
    org: String,
}

/// How the console signs in to an org (no token needed; its public app is made on first use).
#[utoipa::path(get, path = "/api/v1/console-client", security(()), params(ConsoleQuery),
    responses((status = 200, body = ConsoleClient), (status = 404, body = Problem)))]
async fn console_client(
    state: web::Data<AppState>,
    q: web::Query<ConsoleQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = match state.orgs.resolve_active(&q.org).await {
        Ok(org) => org,
        Err(
            crate::tenancy::TenancyError::NotFound(_)
            | crate::tenancy::TenancyError::Disabled(_)
            | crate::tenancy::TenancyError::InvalidSlug(_),
        ) => return Err(ApiError::NotFound("no such org".into())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let public_url = state.config.public_url();
    let app = state
        .apps
        .ensure_console_app(&org, public_url)
        .await
        .map_err(ApiError::internal)?;
    Ok(json(
        StatusCode::OK,
        &ConsoleClient {
            issuer: org.issuer(public_url),
            client_id: app.client_id,
            redirect_uri: format!("{public_url}/console/"),
        },
    ))
}

/// Every org (operators only).
#[utoipa::path(get, path = "/api/v1/orgs", params(Paging),
    responses((status = 200, body = Page<OrgView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_orgs(
    Caller(who): Caller,
    state: web::Data<AppState>,
    p: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    // Who may list comes before what was asked for.
    service::require_operator(&who)?;
    let p = service::PageRequest::parse(p.page, p.per_page)?;
    paged(service::list_orgs(&state, &who, p).await?)
}

/// Creates an org with its first signing key (operators only).
#[utoipa::path(post, path = "/api/v1/orgs", request_body = OrgCreateRequest,
    responses((status = 201, body = OrgView), (status = 409, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_org(
    Caller(who): Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The role first: a non-operator learns nothing about the body's shape.
    service::require_operator(&who)?;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::CREATED,
        &service::create_org(&state, &who, parsed).await?,
    ))
}

/// Disables an org: every endpoint refuses at once, its sessions end and its apps are told
/// (operators only).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/disable", params(("org" = String, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn disable_org(
    Caller(who): Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(json(
        StatusCode::OK,
        &service::set_org_status(&state, &who, &path, false).await?,
    ))
}

/// Enables a disabled org (operators only).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/enable", params(("org" = String, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn enable_org(
    Caller(who): Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(json(
        StatusCode::OK,
        &service::set_org_status(&state, &who, &path, true).await?,
    ))
}

/// The org's apps.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps", params(("org" = String, Path), Paging),
    responses((status = 200, body = Page<AppView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_apps(
    scope: AdminScope,
    state: web::Data<AppState>,
    p: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    let p = service::PageRequest::parse(p.page, p.per_page)?;
    paged(service::list_apps(&state, &org, p).await?)
}

/// Registers an app; the answer carries its secret (the only time it is shown). An app of type
/// `saml` takes a `saml` object (SP entity id, unique in the org: 409 when taken; ACS URLs;
/// Single Logout; NameID; signing; SP certificates) and has no secret; SSO endpoints are coming.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps", params(("org" = String, Path)), request_body = AppCreateRequest,
    responses((status = 201, body = AppWithSecret), (status = 422, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_app(
    scope: AdminScope,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    let parsed: AppCreateRequest = parse_body(&body)?;
    Ok(json(
        StatusCode::CREATED,
        &service::create_app(&state, &org, &who, parsed).await?,
    ))
}

/// One app.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{id}", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = AppView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_app(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::app_view(&service::get_app(&state, &org, &id).await?),
    ))
}

/// Changes an app's name, URIs, logout settings, session profile and rules, or lifetimes; for
/// a SAML app, its `saml` settings (absent fields stay).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/apps/{id}", params(("org" = String, Path), ("id" = String, Path)), request_body = AppUpdateRequest,
    responses((status = 200, body = AppView), (status = 404, body = Problem), (status = 422, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_app(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::update_app(&state, &org, &who, &id, parsed).await?,
    ))
}

/// Deletes an app (its sessions and deliveries go with it).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/apps/{id}", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_app(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    service::delete_app(&state, &org, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces a confidential app's secret; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{id}/secret", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = AppWithSecret), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn rotate_secret(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::rotate_secret(&state, &org, &who, &id).await?,
    ))
}

/// Sends the app one logout token now (a `sid` that names no session) and answers what its
/// back-channel receiver said: a check that logout reaches the app.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/apps/{id}/test-logout", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = TestLogoutView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn test_logout(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::send_test_logout(&state, &org, &who, &id).await?,
    ))
}

/// Reads an SP's metadata (its `EntityDescriptor` XML) into the `saml` object of a
/// registration, with notes on what was left out; nothing is saved (the console fills its
/// register form with it). A document that cannot be read is a 422 naming `saml.sp_metadata`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/saml/sp-metadata", params(("org" = String, Path)), request_body = SpMetadataRequest,
    responses((status = 200, body = SpMetadataImport), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn read_sp_metadata(_scope: AdminScope, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let parsed: SpMetadataRequest = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::read_sp_metadata(&parsed.xml)?,
    ))
}

/// The app's live app sessions, newest first, those outliving their ended IdP session
/// included, each with its user's email.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps/{id}/sessions", params(("org" = String, Path), ("id" = String, Path), Paging),
    responses((status = 200, body = Page<AppSessionView>), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn app_sessions(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    p: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    let p = service::PageRequest::parse(p.page, p.per_page)?;
    paged(service::app_sessions(&state, &org, &id, p).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct SessionFilter {
    /// Only this user's sessions.
    user_id: Option<String>,
    /// Only sessions this app takes part in.
    app_id: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

/// Live IdP sessions, each with its live app sessions.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sessions", params(("org" = String, Path), SessionFilter),
    responses((status = 200, body = Page<SessionView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_sessions(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<SessionFilter>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    let p = service::PageRequest::parse(q.page, q.per_page)?;
    paged(service::list_sessions(&state, &org, q.user_id.as_deref(), q.app_id.as_deref(), p).await?)
}

/// One IdP session, live or ended, with its live app sessions.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sessions/{id}", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_session(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::get_session(&state, &org, &id).await?,
    ))
}

/// Where a user is signed in: their live IdP sessions and the ended ones still holding a live
/// app session that outlives them (`ended_at` set), newest first, each with its live app
/// sessions.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/users/{id}/sessions", params(("org" = String, Path), ("id" = String, Path), Paging),
    responses((status = 200, body = Page<SessionView>), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn user_sessions(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    p: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    let p = service::PageRequest::parse(p.page, p.per_page)?;
    paged(service::user_sessions(&state, &org, &id, p).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DryRun {
    /// `true`: list what would end and whom it would tell, change nothing.
    dry_run: Option<bool>,
}

/// Revokes an IdP session: it and all its app sessions end, and their apps are told. With
/// `dry_run=true`, the preview of exactly that.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/sessions/{id}/revoke", params(("org" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 200, body = RevokeOutcome), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn revoke_session(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<DryRun>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::revoke_session(&state, &org, &who, &id, q.dry_run.unwrap_or(false)).await?,
    ))
}

/// Ends one app session (local logout of one app, reason `admin_revoked`): its app is told by
/// back-channel logout, its IdP session and the user's other apps go on. With `dry_run=true`,
/// the preview.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/app-sessions/{id}/revoke", params(("org" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 200, body = RevokeOutcome), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn revoke_app_session(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<DryRun>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::revoke_app_session(&state, &org, &who, &id, q.dry_run.unwrap_or(false)).await?,
    ))
}

/// Signs a user out everywhere: every IdP and app session ends (outliving ones too), every app
/// is told. With `dry_run=true`, the preview.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users/{id}/sign-out-everywhere", params(("org" = String, Path), ("id" = String, Path), DryRun),
    responses((status = 200, body = RevokeOutcome), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn sign_out_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<DryRun>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::sign_out_user(&state, &org, &who, &id, q.dry_run.unwrap_or(false)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DeliveryFilter {
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// Only deliveries to this app (its id).
    app_id: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

/// Back-channel logout deliveries, newest first, with attempts and the last error.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/logout-deliveries", params(("org" = String, Path), DeliveryFilter),
    responses((status = 200, body = Page<DeliveryView>), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_deliveries(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<DeliveryFilter>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    let p = service::PageRequest::parse(q.page, q.per_page)?;
    paged(
        service::list_deliveries(&state, &org, q.status.as_deref(), q.app_id.as_deref(), p).await?,
    )
}

/// Makes an undelivered delivery due now (a failed one gets another round of attempts).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/logout-deliveries/{id}/retry", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn retry_delivery(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    service::retry_delivery(&state, &org, &who, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The org's published signing keys.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/signing-keys", params(("org" = String, Path), Paging),
    responses((status = 200, body = Page<SigningKeyView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_keys(
    scope: AdminScope,
    state: web::Data<AppState>,
    p: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    page_response(service::list_keys(&state, &org).await?, &p)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RotateQuery {
    /// `ES256` or `RS256`; default: the current key's.
    alg: Option<String>,
    /// Seconds before the new key signs (default `keys.rotation_publish_lead_secs`).
    publish_lead_secs: Option<i64>,
}

/// Creates the org's next signing key (published now, signing after the lead).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/signing-keys/rotate", params(("org" = String, Path), RotateQuery),
    responses((status = 200, body = SigningKeyView), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn rotate_key(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<RotateQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::rotate_key(&state, &org, q.alg.as_deref(), q.publish_lead_secs).await?,
    ))
}

/// A JSON body, or the problem naming what is wrong with it.
/// The org's audit sink and its delivery status (the secret is never returned).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit-sink", params(("org" = String, Path)),
    responses((status = 200, body = AuditSinkView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_audit_sink(
    scope: AdminScope,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::get_audit_sink(&state, &org).await?,
    ))
}

/// Creates or changes the org's audit sink. A new sink needs a secret and delivers the events
/// written from now on; a change keeps the secret unless one is given, and is tried at once.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/audit-sink", params(("org" = String, Path)), request_body = AuditSinkRequest,
    responses((status = 200, body = AuditSinkView), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn put_audit_sink(
    scope: AdminScope,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::put_audit_sink(&state, &org, &who, parsed).await?,
    ))
}

/// Deletes the org's audit sink (the audit trail stays).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/audit-sink", params(("org" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_audit_sink(
    scope: AdminScope,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    service::delete_audit_sink(&state, &org, &who).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::field("body", e.to_string()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct UserFilter {
    /// Part of the email.
    q: Option<String>,
    /// `active` or `disabled`.
    status: Option<String>,
    /// `true`: only users whose email is verified; `false`: only those whose is not.
    verified: Option<bool>,
    page: Option<u64>,
    per_page: Option<u64>,
}

/// The org's users, with their keys.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/users", params(("org" = String, Path), UserFilter),
    responses((status = 200, body = Page<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_users(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<UserFilter>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    let p = service::PageRequest::parse(q.page, q.per_page)?;
    let filter = service::users_filter(q.q.as_deref(), q.status.as_deref(), q.verified)?;
    paged(service::list_users(&state, &org, &filter, p).await?)
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users", params(("org" = String, Path)), request_body = UserCreateRequest,
    responses((status = 201, body = UserView), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, description = "the org's invitation quota for the hour is used up (with `invite`)", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::CREATED,
        &service::create_user(&state, &org, &who, parsed).await?,
    ))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/users/{id}", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::get_user(&state, &org, &id).await?,
    ))
}

/// Changes a user's name or role.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/users/{id}", params(("org" = String, Path), ("id" = String, Path)), request_body = UserUpdateRequest,
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::update_user(&state, &org, &who, &id, parsed).await?,
    ))
}

/// Deletes a user: every session ends first (reason `user_deleted`) and every app is told.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/users/{id}", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    service::delete_user(&state, &org, &who, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disables a user: sign-in is refused, every session ends (reason `user_disabled`).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users/{id}/disable", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn disable_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::set_user_active(&state, &org, &who, &id, false).await?,
    ))
}

/// Enables a disabled user.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users/{id}/enable", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn enable_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::set_user_active(&state, &org, &who, &id, true).await?,
    ))
}

/// Removes the user's keys and recovery codes; every session ends (reason `mfa_reset`).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users/{id}/reset-mfa", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn reset_mfa(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::reset_mfa(&state, &org, &who, &id).await?,
    ))
}

/// Emails the user a link to set up their account with a password or a passkey (valid 7
/// days); the previous link stops working.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/users/{id}/invite", params(("org" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 429, description = "the org's invitation quota for the hour is used up", body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn invite_user(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::invite_user(&state, &org, &who, &id).await?,
    ))
}

/// The org's IdP session policy and MFA policy.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/session-policy", params(("org" = String, Path)),
    responses((status = 200, body = SessionPolicyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_policy(
    scope: AdminScope,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::get_policy(&state, &org).await?,
    ))
}

/// Replaces the policy; it applies to existing sessions on every node from their next request.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/session-policy", params(("org" = String, Path)), request_body = SessionPolicyView,
    responses((status = 200, body = SessionPolicyView), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn put_policy(
    scope: AdminScope,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::set_policy(&state, &org, &who, parsed).await?,
    ))
}

/// Who may sign up on the org's hosted pages, and whether sign-in needs a verified address.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/signup-policy", params(("org" = String, Path)),
    responses((status = 200, body = SignupPolicyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_signup_policy(scope: AdminScope) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(StatusCode::OK, &service::get_signup_policy(&org)))
}

/// Replaces the sign-up policy; every node applies it from its next request.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/signup-policy", params(("org" = String, Path)), request_body = SignupPolicyView,
    responses((status = 200, body = SignupPolicyView), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn put_signup_policy(
    scope: AdminScope,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::set_signup_policy(&state, &org, &who, parsed).await?,
    ))
}

/// Every kind of email the org sends, with the template in use (the org's or the built-in).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/email-templates", params(("org" = String, Path)),
    responses((status = 200, body = [EmailTemplateView]), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_email_templates(
    scope: AdminScope,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::list_email_templates(&state, &org).await?,
    ))
}

/// Sets the org's template of one kind. Placeholders are checked (`{{link}}` is required where
/// the message carries a link); values are HTML-escaped in the HTML part.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/email-templates/{kind}", params(("org" = String, Path), ("kind" = String, Path)), request_body = EmailTemplateRequest,
    responses((status = 200, body = EmailTemplateView), (status = 404, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn put_email_template(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (_, kind) = path.into_inner();
    let AdminScope { who, org } = scope;
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::set_email_template(&state, &org, &who, &kind, Some(parsed)).await?,
    ))
}

/// Goes back to the built-in template of this kind.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/email-templates/{kind}", params(("org" = String, Path), ("kind" = String, Path)),
    responses((status = 200, body = EmailTemplateView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_email_template(
    scope: AdminScope,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, kind) = path.into_inner();
    let AdminScope { who, org } = scope;
    Ok(json(
        StatusCode::OK,
        &service::set_email_template(&state, &org, &who, &kind, None).await?,
    ))
}

/// Renders a template (not stored) with sample values, as the mailer would send it: subject,
/// text and the HTML document in the org's branded frame. Checked like a PUT.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/email-templates/{kind}/preview", params(("org" = String, Path), ("kind" = String, Path)), request_body = EmailTemplateRequest,
    responses((status = 200, body = EmailPreviewView), (status = 404, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn preview_email_template(
    scope: AdminScope,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (_, kind) = path.into_inner();
    let parsed = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        &service::preview_email_template(&scope.org, &kind, parsed)?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AuditFilter {
    /// Action, or its dotted prefix (`session.`, `logout_delivery.failed`).
    action: Option<String>,
    /// The id the event is about (a user, an app, a session).
    target: Option<String>,
    /// Who did it: `user:{id}`, `app:{client_id}`, `cli` or `system`.
    actor: Option<String>,
    /// RFC 3339; inclusive.
    since: Option<String>,
    /// RFC 3339; exclusive.
    until: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit-events", params(("org" = String, Path), AuditFilter),
    responses((status = 200, body = Page<AuditEventView>), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn audit_events(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    let p = service::PageRequest::parse(q.page, q.per_page)?;
    paged(
        service::audit_events(
            &state,
            &org,
            service::AuditFilterText {
                action: q.action.as_deref(),
                target: q.target.as_deref(),
                actor: q.actor.as_deref(),
                since: q.since.as_deref(),
                until: q.until.as_deref(),
            },
            p,
        )
        .await?,
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ActivityQuery {
    /// How many hours back, 1–168 (default 24).
    hours: Option<i64>,
}

/// Successful and failed sign-ins per hour (the dashboard's chart).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/activity", params(("org" = String, Path), ActivityQuery),
    responses((status = 200, body = Vec<ActivityHour>), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn activity(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::activity(&state, &org, q.hours).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DeliveryStatsQuery {
    /// How many hours back, 1–720 (default 168, a week).
    hours: Option<i64>,
}

/// Logout deliveries per app made in the last `hours` hours, by outcome (delivered, failed,
/// pending): apps with at least one, by name (the dashboard's chart).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/delivery-stats", params(("org" = String, Path), DeliveryStatsQuery),
    responses((status = 200, body = Vec<AppDeliveryStats>), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delivery_stats(
    scope: AdminScope,
    state: web::Data<AppState>,
    q: web::Query<DeliveryStatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = scope.org;
    Ok(json(
        StatusCode::OK,
        &service::delivery_stats(&state, &org, q.hours).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc = ApiDoc::openapi();
        for (method, path) in ROUTES {
            let full = format!("{API_PREFIX}{path}");
            let item = doc
                .paths
                .paths
                .get(&full)
                .unwrap_or_else(|| panic!("{full} is missing from the OpenAPI document"));
            let json = serde_json::to_value(item).unwrap();
            assert!(
                json.get(*method).is_some(),
                "{method} {full} is missing from the OpenAPI document"
            );
        }
        assert_eq!(
            doc.paths
                .paths
                .values()
                .map(|i| serde_json::to_value(i)
                    .unwrap()
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                    .count())
                .sum::<usize>(),
            ROUTES.len(),
            "the document lists no route the server lacks"
        );
    }
}
