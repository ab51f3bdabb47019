//! `SamlService`: the org as a SAML identity provider — its entity id and endpoints, its
//! signing key (from `KeyService`, rotated with the org's JOSE keys) and its metadata.

use super::dsig::{Bergshamra, Certificate, SigningKey, XmlSignatures};
use super::metadata::{IdpDescription, idp_metadata};
use super::{ENTITY_ID_SUFFIX, SLO_PATH, SSO_PATH};
use crate::keys::{KeyError, KeyService};
use crate::tenancy::Org;
use std::sync::Arc;

#[derive(Clone)]
pub struct SamlService {
    keys: KeyService,
    public_url: String,
    dsig: Arc<dyn XmlSignatures>,
}

impl std::fmt::Debug for SamlService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlService").finish_non_exhaustive()
    }
}

impl SamlService {
    pub fn new(keys: KeyService, public_url: String) -> Self {
        Self {
            keys,
            public_url,
            dsig: Arc::new(Bergshamra),
        }
    }

    /// The XML signature implementation.
    pub fn dsig(&self) -> &dyn XmlSignatures {
        self.dsig.as_ref()
    }

    /// The server's public URL (what the org's issuer starts with).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// A MAC of `message` for `purpose` with the server's MAC key (`KeyService::mac`).
    pub fn mac(&self, purpose: &str, message: &[u8]) -> Vec<u8> {
        self.keys.mac(purpose, message)
    }

    /// The org's IdP entity id: its issuer and `/saml`.
    pub fn entity_id(&self, org: &Org) -> String {
        format!("{}{ENTITY_ID_SUFFIX}", org.issuer(&self.public_url))
    }

    /// The key the org signs SAML messages with now (made on first use).
    pub async fn signing_key(&self, org: &Org) -> Result<SigningKey, KeyError> {
        let keys = self.keys.saml_keys(org.id).await?;
        Ok(SigningKey::new(
            keys.signing.pkcs8_pem,
            Certificate(keys.signing.certificate_der),
        ))
    }

    /// The org's metadata document (every published certificate).
    pub async fn metadata(&self, org: &Org) -> Result<String, KeyError> {
        let keys = self.keys.saml_keys(org.id).await?;
        let certificates: Vec<Certificate> = keys.published.into_iter().map(Certificate).collect();
        let issuer = org.issuer(&self.public_url);
        Ok(idp_metadata(&IdpDescription {
            entity_id: &self.entity_id(org),
            sso_url: &format!("{issuer}{SSO_PATH}"),
            slo_url: &format!("{issuer}{SLO_PATH}"),
            certificates: &certificates,
        }))
    }
}
