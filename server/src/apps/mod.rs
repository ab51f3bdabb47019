//! Apps: the OpenID Connect clients of an org, their URIs and credentials.

mod error;
mod model;
mod service;

pub use error::AppError;
pub use model::{
    App, AppId, AppSettings, AppType, AppUri, ClientAuthMethod, DEVICE_CODE_GRANT, DpopRules,
    GrantType, InvalidUri, MAX_APP_JWKS_BYTES, MAX_APPS_PER_ORG, MAX_REDIRECT_URIS_PER_APP,
    MAX_SIGNED_TOKEN_TTL_SECS, NewApp, SessionProfile, SessionRules, check_public_jwks,
};
pub use service::{AppService, CONSOLE_CLIENT_ID, CreateApp};
