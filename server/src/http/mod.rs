//! The HTTP edge: middleware, extractors, error mapping and the helpers of the hosted pages.
//! With the `routes.rs` files and `crate::server` (the route tree), the only code that imports
//! actix-web. It knows services (extractors look sessions up) but no feature's routes.

pub(crate) mod console;
mod error;
pub mod extract;
pub(crate) mod headers;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod org;
pub mod pages;
pub(crate) mod request_log;
pub(crate) mod saml;
mod saml_slo;
pub mod signin;

pub(crate) use error::not_found;
pub use error::{
    JsonError, OAuthError, OUTAGE_RETRY_AFTER_SECS, OrUnavailable, PageError, error_page,
    failure_page, log_failure, retry_later,
};
pub use org::{CurrentOrg, PublicOrg};

/// A running HTTP server; awaiting it waits until it has stopped.
pub type Server = actix_web::dev::Server;
/// Stops a running server from elsewhere (tests, signal handlers).
pub use actix_web::dev::ServerHandle;
