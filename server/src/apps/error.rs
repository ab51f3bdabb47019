//! Errors of app registration.

use super::model::InvalidUri;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("app name must be 1-200 characters")]
    InvalidName,
    #[error(transparent)]
    InvalidUri(#[from] InvalidUri),
    #[error("a {0} app needs at least one --redirect-uri")]
    MissingRedirectUri(&'static str),
    #[error("a service app signs in no users, so it takes no redirect or logout URIs")]
    ServiceWithUris,
    #[error("an app may have at most {limit} {what}")]
    TooManyUris { what: &'static str, limit: usize },
    #[error("an org may have at most {0} apps; delete one first")]
    TooManyApps(u64),
    #[error("could not generate credentials: {0}")]
    Random(#[from] crate::secrets::RandomError),
    #[error("{0}")]
    InvalidSettings(&'static str),
    #[error("client id collision; try again")]
    ClientIdTaken,
    /// A SAML setting that does not pass; the field is named as under the admin API's `saml`.
    #[error("{0}")]
    InvalidSaml(#[from] super::saml::SamlSettingsError),
    #[error("a SAML app needs its SAML settings (SP entity id, ACS URLs)")]
    MissingSaml,
    #[error("only a SAML app takes SAML settings")]
    SamlSettingsOnOidcApp,
    #[error("a SAML app takes no redirect URIs, OIDC logout URIs or admin role")]
    SamlWithOidcSettings,
    #[error("another SAML app of this org has this SP entity id")]
    EntityIdTaken,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
