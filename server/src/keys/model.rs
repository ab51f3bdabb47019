//! Signing key types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// JWS algorithms Portcullis signs with (ES256 by default, RS256 as OIDC requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (ES256, RS256)"
            )),
        }
    }
}

/// A key as stored: the private half still encrypted.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub encrypted_private_key: String,
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The SAML key of a stored key row (`keys::saml`): the private half still encrypted.
#[derive(Debug, Clone)]
pub struct StoredSamlKey {
    /// Sealed PKCS#8 PEM (associated data `org:kid:saml`).
    pub encrypted_private_key: String,
    /// base64 of the certificate's DER.
    pub certificate: String,
}

/// What rotation reports (never the private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub activates_at: DateTime<Utc>,
}
