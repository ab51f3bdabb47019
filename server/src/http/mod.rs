//! The HTTP edge: the server builder, middleware, extractors and error pages. With the
//! `routes.rs` files, the only code that imports actix-web.

mod console;
mod error;
pub(crate) mod headers;
mod health;
pub(crate) mod org;
pub mod pages;
mod request_log;

pub use error::{
    OUTAGE_RETRY_AFTER_SECS, error_page, failure_page, html_escape, log_failure, retry_later,
};
pub use org::{CurrentOrg, PublicOrg};

use crate::app::AppState;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// A running HTTP server; awaiting it waits until it has stopped.
pub type Server = actix_web::dev::Server;
/// Stops a running server from elsewhere (tests, signal handlers).
pub use actix_web::dev::ServerHandle;

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
            .configure(health::configure)
            .configure(crate::authn::routes::configure_assets)
            .configure(crate::admin_api::routes::configure)
            .configure(crate::tenancy::routes::configure)
            .configure(|cfg| console::configure(cfg, &console_dir, console_built))
            .default_service(web::to(error::not_found))
    })
    .shutdown_timeout(http.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(10))
    .listen(listener)?;
    if http.workers > 0 {
        server = server.workers(http.workers);
    }
    Ok(server.run())
}
