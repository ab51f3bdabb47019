//! Signing keys moving between deployments (org export `--with-keys`): the export opens each
//! key with this deployment's key-encryption key and seals it with the target's, under the same
//! associated data (`org:kid`, `org:kid:saml`: ids are kept); the import checks that every key
//! opens with its own key-encryption key and is the private half of the public key it claims.
//! A private key is never written in the clear.

use super::error::KeyError;
use super::jose::Signer;
use super::service::{KeyEncryptionKey, aad, encoding_key, saml_aad};
use crate::export::KeyRecord;
use crate::tenancy::OrgId;
use jsonwebtoken::jwk::Jwk;

/// JWK members that identify a public key (the rest, `kid`, `use`, `alg`, are labels).
const KEY_MEMBERS: [&str; 6] = ["kty", "crv", "x", "y", "n", "e"];

impl KeyEncryptionKey {
    /// `key` (sealed with this key) sealed instead with `target`, SAML key included.
    pub fn reseal_for(
        &self,
        target: &KeyEncryptionKey,
        org: OrgId,
        key: &KeyRecord,
    ) -> Result<KeyRecord, KeyError> {
        let mut out = key.clone();
        let jose = aad(org, &key.kid);
        out.private_key = target.seal(&jose, &self.open(&jose, &key.private_key)?)?;
        if let Some(sealed) = &key.saml_private_key {
            let saml = saml_aad(org, &key.kid);
            out.saml_private_key = Some(target.seal(&saml, &self.open(&saml, sealed)?)?);
        }
        Ok(out)
    }

    /// Refuses a key of an import that this deployment could not use: sealed with another
    /// key-encryption key (or for another org or kid), not a key ring signs with, not the
    /// private half of its `public_jwk`, or a SAML key without its certificate.
    pub fn check_imported(&self, org: OrgId, key: &KeyRecord) -> Result<(), KeyError> {
        let bad = |why: &str| KeyError::Encryption(format!("signing key {}: {why}", key.kid));
        let der = self.open(&aad(org, &key.kid), &key.private_key).map_err(|_| {
            bad("does not open with this deployment's keys.encryption_key (export it with --target-key-file naming this deployment's key)")
        })?;
        Signer::new(key.alg, &der).map_err(|_| bad("not a usable private key"))?;
        let claimed: Jwk = serde_json::from_value(key.public_jwk.clone())
            .map_err(|_| bad("public_jwk is not a JWK"))?;
        let derived = Jwk::from_encoding_key(&encoding_key(key.alg, &der), key.alg.jwt())
            .map_err(|_| bad("not a usable private key"))?;
        let derived = serde_json::to_value(derived).map_err(|_| bad("not a usable key"))?;
        let claimed_value = serde_json::to_value(&claimed).map_err(|_| bad("public_jwk"))?;
        let same = KEY_MEMBERS
            .iter()
            .all(|m| derived.get(m) == claimed_value.get(m));
        if !same || key.public_jwk.get("kid").and_then(|k| k.as_str()) != Some(&key.kid) {
            return Err(bad(
                "public_jwk is not this key's public half, or names another kid",
            ));
        }
        match (&key.saml_private_key, &key.saml_certificate) {
            (None, None) => Ok(()),
            (Some(sealed), Some(certificate)) => {
                let pem = self
                    .open(&saml_aad(org, &key.kid), sealed)
                    .map_err(|_| bad("its SAML key does not open with this deployment's key"))?;
                if certifies(certificate, &pem) {
                    Ok(())
                } else {
                    // Else the org's metadata would publish a certificate of someone else's key
                    // (SPs would trust Responses that key signs), or one no SP can use.
                    Err(bad(
                        "its SAML certificate is not a certificate of its SAML key",
                    ))
                }
            }
            _ => Err(bad("a SAML key needs both its private key and certificate")),
        }
    }
}

/// Whether `certificate` (base64 DER) is an X.509 certificate of the public half of `pem` (an
/// RSA PKCS#8 private key).
fn certifies(certificate: &str, pem: &[u8]) -> bool {
    use base64::Engine;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(certificate) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    let key = std::str::from_utf8(pem)
        .ok()
        .and_then(|p| rsa::RsaPrivateKey::from_pkcs8_pem(p).ok());
    let spki = key.and_then(|k| k.to_public_key().to_public_key_der().ok());
    spki.is_some_and(|spki| spki.as_bytes() == cert.public_key().raw)
}

#[cfg(test)]
mod tests {
    use super::certifies;
    use base64::Engine;

    #[test]
    fn a_saml_certificate_must_certify_its_own_key() {
        let now = chrono::Utc::now();
        let a = crate::keys::saml::generate("a", now).unwrap();
        let b = crate::keys::saml::generate("b", now).unwrap();
        let cert = |k: &crate::keys::saml::SamlKey| {
            base64::engine::general_purpose::STANDARD.encode(&k.certificate_der)
        };
        assert!(certifies(&cert(&a), a.pkcs8_pem.as_bytes()));
        assert!(!certifies(&cert(&b), a.pkcs8_pem.as_bytes()));
        assert!(!certifies("not base64!", a.pkcs8_pem.as_bytes()));
        assert!(!certifies(&cert(&a), b"not a key"));
    }
}
