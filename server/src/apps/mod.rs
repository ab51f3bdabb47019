//! Apps: the OpenID Connect clients and SAML service providers of an org, their URIs,
//! credentials and SAML settings.

mod error;
mod model;
pub mod saml;
mod service;

pub use error::AppError;
pub use model::{
    App, AppId, AppSettings, AppType, AppUri, ClientAuthMethod, DEVICE_CODE_GRANT, DpopRules,
    GrantType, InvalidUri, MAX_APP_JWKS_BYTES, MAX_APPS_PER_ORG, MAX_REDIRECT_URIS_PER_APP,
    MAX_SIGNED_TOKEN_TTL_SECS, NewApp, SessionProfile, SessionRules, check_public_jwks,
};
pub use saml::{
    AcsRequest, AcsUrl, NameIdFormat, SamlAttribute, SamlBinding, SamlRequest, SamlSettings,
    SamlSettingsError, SloEndpoint, SpCertificate, SpEntityId,
};
pub use service::{AppService, CONSOLE_CLIENT_ID, CreateApp};
