//! `SamlService`: the org as a SAML identity provider — its entity id and endpoints, its
//! signing key (from `KeyService`, rotated with the org's JOSE keys) and its metadata.

use super::dsig::{Bergshamra, Certificate, SigningKey, XmlSignatures};
use super::messages::NameId;
use super::metadata::{IdpDescription, idp_metadata};
use super::{ENTITY_ID_SUFFIX, SLO_PATH, SSO_PATH};
use crate::apps::{App, NameIdFormat, SamlSettings};
use crate::keys::{KeyError, KeyService};
use crate::oidc::AppSessionId;
use crate::store::{SingleUseKind, Store, StoreError};
use crate::tenancy::Org;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
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

    /// The org's Single Logout endpoint (every binding).
    pub fn slo_url(&self, org: &Org) -> String {
        format!("{}{SLO_PATH}", org.issuer(&self.public_url))
    }

    /// The subject's NameID for `app`, in the app's format: the email; a persistent pairwise id
    /// (a MAC of the org, the app and the user: stable, and different for every app); or a
    /// transient one, a MAC of the app session (new for every sign-in, unlinkable, and the same
    /// again in that session's LogoutRequest).
    pub fn name_id(
        &self,
        org: &Org,
        app: &App,
        settings: &SamlSettings,
        user: &crate::accounts::User,
        app_session: AppSessionId,
    ) -> NameId {
        let value = match settings.name_id_format {
            NameIdFormat::Email => user.email.as_str().to_owned(),
            NameIdFormat::Persistent => {
                let message = format!("{}:{}:{}", org.id, app.id, user.id);
                let mac = self.mac("saml-persistent-nameid", message.as_bytes());
                URL_SAFE_NO_PAD.encode(&mac[..20])
            }
            NameIdFormat::Transient => {
                let message = format!("{}:{}:{}", org.id, app.id, app_session);
                let mac = self.mac("saml-transient-nameid", message.as_bytes());
                format!("_{}", URL_SAFE_NO_PAD.encode(&mac[..20]))
            }
        };
        NameId {
            value,
            format: Some(settings.name_id_format.urn().to_owned()),
            sp_name_qualifier: None,
            name_qualifier: None,
        }
    }

    /// The org's metadata document (every published certificate).
    pub async fn metadata(&self, org: &Org) -> Result<String, KeyError> {
        let keys = self.keys.saml_keys(org.id).await?;
        let certificates: Vec<Certificate> = keys.published.into_iter().map(Certificate).collect();
        let issuer = org.issuer(&self.public_url);
        Ok(idp_metadata(&IdpDescription {
            entity_id: &self.entity_id(org),
            sso_url: &format!("{issuer}{SSO_PATH}"),
            slo_url: &self.slo_url(org),
            certificates: &certificates,
        }))
    }
}

/// The SP's certificate as the verifier takes it (the PEM's DER).
pub fn sp_certificate(settings: &SamlSettings) -> Option<Certificate> {
    let pem = settings.sp_certificate.as_ref()?.as_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Certificate::from_base64(&body).ok()
}

/// Remembers an SP's request ID until `until`: false when it was seen already (a replay).
pub async fn remember_request_id(
    store: &Store,
    org: &Org,
    sp_entity_id: &str,
    request_id: &str,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = format!("{sp_entity_id} {request_id}");
    match store
        .put_single_use(org.id, SingleUseKind::SamlRequestId, &key, "", until)
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
}
