//! The HTTP server and its route tree (named `routes` as the edge's other route files): the one place above the features that knows every
//! feature's routes. Features register their own routes (`configure` in each `routes.rs`);
//! this module decides where they hang and which middleware wraps them.

use crate::http::org::{pace_anonymous, resolve_org};
use crate::http::{console, headers, health, metrics, request_log};
use crate::state::AppState;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

pub use crate::http::{Server, ServerHandle};

/// Path of an org's scope; `{org}` is the slug. Shared with the issuer built by `Org::issuer`.
pub const ORG_SCOPE: &str = "/o/{org}";

/// Builds the server on an already bound listener (so tests can bind port 0).
pub fn server(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let http = state.config.http.clone();
    let console_dir = state.config.console.dir.clone();
    let console_built = console::is_built(&console_dir);
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(headers::security_headers(
                data.config.public_url().starts_with("https://"),
            ))
            .wrap(TracingLogger::<request_log::RequestLog>::new())
            // Inside the request log: counts what the client got, by route template.
            .wrap(from_fn(metrics::record))
            .configure(|cfg| routes(cfg, &console_dir, console_built))
            .default_service(web::to(crate::http::not_found))
    })
    .shutdown_timeout(http.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(10))
    .listen(listener)?;
    if http.workers > 0 {
        server = server.workers(http.workers);
    }
    Ok(server.run())
}

/// The metrics listener (`metrics.bind`): `GET /metrics` and nothing else, never on the
/// public listener.
pub fn metrics_server(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(metrics::configure)
    })
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?;
    Ok(server.run())
}

/// Every route of the server.
fn routes(cfg: &mut web::ServiceConfig, console_dir: &Path, console_built: bool) {
    cfg.configure(health::configure)
        .configure(crate::authn::routes::configure_assets)
        .configure(crate::oidc::routes::configure_assets)
        .configure(crate::admin_api::routes::configure);
    // Public metadata first, outside the scope: it resolves its org from the node's own copy
    // (`OrgService::resolve_public`), not through the scope's `resolve_org`.
    cfg.route(
        &format!("{ORG_SCOPE}{}", crate::oidc::routes::DISCOVERY_PATH),
        web::get().to(crate::oidc::routes::discovery),
    );
    cfg.service(
        web::scope(ORG_SCOPE)
            .wrap(from_fn(resolve_org))
            // Outermost: a client over its pace waits or is refused before anything is read.
            .wrap(from_fn(pace_anonymous))
            .configure(crate::tenancy::routes::configure)
            .configure(crate::authn::routes::configure)
            .configure(crate::authn::webauthn_routes::configure)
            .configure(crate::accounts::routes::configure)
            .configure(crate::accounts::link_routes::configure)
            .configure(crate::oidc::routes::configure)
            .configure(crate::oidc::device_routes::configure)
            .configure(crate::slo::routes::configure)
            .configure(crate::http::saml::configure)
            .default_service(web::to(crate::tenancy::routes::org_not_found)),
    );
    console::configure(cfg, console_dir, console_built);
}
