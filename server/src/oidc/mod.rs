//! The OpenID Connect provider of each org: discovery, JWKS, authorize, token, userinfo,
//! introspection and revocation, with an app-session record per (IdP session, app) that enforces
//! each app's own session rules.

pub mod client_assertion;
pub mod device;
pub mod device_routes;
pub mod dpop;
mod dpop_routes;
mod error;
mod model;
pub mod routes;
mod service;

pub use error::{OidcError, OidcErrorCode};
pub use model::{AppSession, AppSessionId, AuthorizeDecision, AuthorizeParams, RefreshRecord};
pub use service::device::{DeviceAnswer, DeviceAuthorization, SessionStep};
pub use service::{AccessClaims, ClientAuth, OidcService, PushedAuthorization, TokenParams};
