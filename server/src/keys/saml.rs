//! An org's SAML signing key: an RSA-2048 key of its own and a self-signed X.509 certificate
//! for it, one per JOSE signing key row (`signing_keys.saml_*`), so it is published, signs and
//! retires exactly when that row's JOSE key does (rotation rotates both).
//!
//! Why a key of its own rather than the org's JOSE key: orgs sign tokens with ES256 by default
//! and SAML peers expect RSA-SHA256, so most orgs need an RSA key anyway; one path for every
//! org, and a key used by one protocol only. Made on first SAML use of the row (metadata or a
//! signature), not with the JOSE key: RSA generation costs tens of milliseconds that OIDC-only
//! orgs never pay. The private key is sealed like the JOSE keys (AES-256-GCM under the key
//! encryption key, associated data `org:kid:saml`).

use super::error::KeyError;
use chrono::{DateTime, Datelike, Duration, Utc};

/// How long a certificate says it is valid. SAML peers pin the certificate from metadata and
/// rotation replaces it; a long validity keeps peers that do check dates from refusing it.
const VALIDITY_DAYS: i64 = 10 * 366;

/// A SAML signing key: the private key (PKCS#8 PEM) and its certificate (DER).
#[derive(Clone)]
pub struct SamlKey {
    pub pkcs8_pem: String,
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for SamlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlKey").finish_non_exhaustive()
    }
}

/// The date of `t` as rcgen takes it.
fn ymd(t: DateTime<Utc>) -> Result<(i32, u8, u8), KeyError> {
    let month = u8::try_from(t.month()).map_err(|e| KeyError::Generate(e.to_string()))?;
    let day = u8::try_from(t.day()).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok((t.year(), month, day))
}

/// Makes an RSA-2048 key and a self-signed certificate (RSA-SHA256, subject `CN=common_name`)
/// valid from the day before `now`. Slow (RSA generation): call it on the blocking pool.
pub fn generate(common_name: &str, now: DateTime<Utc>) -> Result<SamlKey, KeyError> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    params.distinguished_name = name;
    let (y, m, d) = ymd(now - Duration::days(1))?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(now + Duration::days(VALIDITY_DAYS))?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let cert = params
        .self_signed(&pair)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(SamlKey {
        pkcs8_pem: pem.to_string(),
        certificate_der: cert.der().to_vec(),
    })
}
