//! Portcullis: a multi-tenant OpenID Connect identity provider. The library holds everything;
//! the `portcullis` binary is a thin CLI over it, and integration tests drive the same library.

pub mod accounts;
pub mod admin_api;
pub mod app;
pub mod apps;
pub mod audit;
pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod email;
pub mod export;
pub mod http;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod routes;
pub mod saml;
pub mod secrets;
pub mod sessions;
pub mod slo;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod text;
pub mod worker;

/// Version of this build, reported by `/api/v1/deployment` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
