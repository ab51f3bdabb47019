//! SAML 2.0 identity provider, protocol layer: our XML reader and builders on quick-xml
//! (`xml`, `messages`, `build`), XML signatures behind a trait on bergshamra (`dsig`), the
//! HTTP-Redirect and POST encodings (`binding`), the IdP metadata (`metadata`) and the
//! service the routes call (`service`), an SP's metadata read into a registration
//! (`sp_metadata`). SSO and Single Logout flows build on these.

pub mod binding;
pub mod build;
pub mod dsig;
mod error;
pub mod messages;
pub mod metadata;
pub mod response;
pub mod service;
pub mod slo;
pub mod soap;
pub mod sp_metadata;
pub mod sso;
pub mod xml;

#[cfg(test)]
mod tests;

pub use error::SamlError;
pub use service::SamlService;

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub use dsig::NS_DSIG;

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_SOAP: &str = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";

pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";

/// Paths under the org (`/o/{org}`), shared by the router and the metadata.
pub const METADATA_PATH: &str = "/saml/metadata";
pub const SSO_PATH: &str = "/saml/sso";
pub const SLO_PATH: &str = "/saml/slo";
/// The IdP's entity id is the org's issuer with this suffix.
pub const ENTITY_ID_SUFFIX: &str = "/saml";
