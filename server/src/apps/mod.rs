//! Apps: the OpenID Connect clients of an org, their URIs and credentials.

mod error;
mod model;
mod service;

pub use error::AppError;
pub use model::{
    App, AppId, AppSettings, AppType, AppUri, DEVICE_CODE_GRANT, GrantType, InvalidUri,
    MAX_APPS_PER_ORG, MAX_REDIRECT_URIS_PER_APP, MAX_SIGNED_TOKEN_TTL_SECS, NewApp, SessionProfile,
    SessionRules,
};
pub use service::{AppService, CONSOLE_CLIENT_ID, CreateApp};
