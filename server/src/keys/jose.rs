//! JOSE signatures on `ring`. jsonwebtoken's `rust_crypto` backend signs and
//! verifies P-256 with the pure-Rust `p256` crate and parses the private key again for every
//! token; `ring` (already a dependency: AES-GCM for the stored keys, key generation) does both
//! several times faster. So:
//!
//! - tokens are signed here with a `ring` key pair parsed once when the org's keys are loaded
//!   (`Signer`, held in `LoadedKey`), and assembled as a JWS compact serialisation by `encode`;
//! - tokens are verified by jsonwebtoken's own `decode` (header, algorithm and claim checks stay
//!   its code) through a `CryptoProvider` whose ES256 and RS256 verifiers are `ring`'s; every other
//!   algorithm, and the JWK helpers, stay jsonwebtoken's `rust_crypto` ones. `install` puts it in
//!   place once per process, before the first token is checked (`KeyService::new`).

use super::error::KeyError;
use super::model::SigningAlg;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::signature::{Error as SigError, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde::Serialize;
use std::sync::OnceLock;

/// A private key ready to sign: parsed (and checked) once.
pub(crate) enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl Signer {
    /// From the stored DER: PKCS#8 for P-256, PKCS#1 for RSA (`keys::service::generate`).
    pub(crate) fn new(alg: SigningAlg, der: &[u8]) -> Result<Self, KeyError> {
        let bad = |e: ring::error::KeyRejected| KeyError::Sign(format!("stored private key: {e}"));
        Ok(match alg {
            SigningAlg::Es256 => Self::Es256(
                EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(bad)?,
            ),
            SigningAlg::Rs256 => Self::Rs256(RsaKeyPair::from_der(der).map_err(bad)?),
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Sign("signing failed".into());
        let rng = SystemRandom::new();
        match self {
            Self::Es256(key) => Ok(key.sign(&rng, msg).map_err(failed)?.as_ref().to_vec()),
            Self::Rs256(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
        }
    }
}

/// `base64url(header) . base64url(claims) . base64url(signature)` (RFC 7515 §7.1), as
/// `jsonwebtoken::encode` makes it.
pub(crate) fn encode<T: Serialize>(
    header: &Header,
    claims: &T,
    signer: &Signer,
) -> Result<String, KeyError> {
    let json = |r: serde_json::Result<Vec<u8>>| r.map_err(|e| KeyError::Sign(e.to_string()));
    let mut token = URL_SAFE_NO_PAD.encode(json(serde_json::to_vec(header))?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(json(serde_json::to_vec(claims))?, &mut token);
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// ES256 or RS256 verification with `ring`, for the key jsonwebtoken hands over.
struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), SigError> {
        let checked = match (self.alg, self.key.kind()) {
            (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, signature)
            }
            (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, msg, signature)
            }
            (Algorithm::RS256, DecodingKeyKind::SecretOrDer(der)) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(msg, signature)
            }
            _ => return Err(SigError::new()),
        };
        checked.map_err(|_| SigError::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let family = match alg {
        Algorithm::ES256 => AlgorithmFamily::Ec,
        Algorithm::RS256 => AlgorithmFamily::Rsa,
        _ => return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    };
    // A key of another family never verifies (no algorithm confusion).
    if key.family() != family {
        return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

/// Makes `ring` jsonwebtoken's verifier for ES256 and RS256 in this process (once; later calls
/// do nothing). False if another provider was installed first.
pub(crate) fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let provider: &'static CryptoProvider = Box::leak(Box::new(CryptoProvider {
            signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
            verifier_factory: new_verifier,
            key_utils: rust_crypto::DEFAULT_PROVIDER.key_utils.clone(),
        }));
        let ok = provider.install_default().is_ok();
        if !ok {
            tracing::warn!("JOSE: another crypto provider was installed first; verifying with it");
        }
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Validation};

    fn claims() -> serde_json::Value {
        serde_json::json!({ "sub": "someone", "exp": 4_102_444_800_i64 })
    }

    fn validation(alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.validate_aud = false;
        v.validate_exp = false;
        v.required_spec_claims = Default::default();
        v
    }

    /// Our ring signatures verify with jsonwebtoken's `rust_crypto` verifier, and its
    /// signatures with ours; a token changed after signing verifies with neither; a key of
    /// the other family is refused.
    #[test]
    fn ring_and_rust_crypto_agree() {
        // (Another test of this process may have fixed jsonwebtoken's provider first: the
        // verifiers are called directly below.)
        install();
        for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
            let der = super::super::service::generate(alg).unwrap();
            let signer = Signer::new(alg, &der).unwrap();
            let encoding = match alg {
                SigningAlg::Es256 => EncodingKey::from_ec_der(&der),
                SigningAlg::Rs256 => EncodingKey::from_rsa_der(&der),
            };
            let decoding = match &signer {
                Signer::Es256(key) => {
                    use ring::signature::KeyPair;
                    let point = key.public_key().as_ref();
                    DecodingKey::from_ec_components(
                        &URL_SAFE_NO_PAD.encode(&point[1..33]),
                        &URL_SAFE_NO_PAD.encode(&point[33..]),
                    )
                    .unwrap()
                }
                Signer::Rs256(key) => {
                    let c = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
                    DecodingKey::from_rsa_raw_components(&c.n, &c.e)
                }
            };
            let header = Header::new(alg.jwt());
            let ours = encode(&header, &claims(), &signer).unwrap();
            let theirs = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
            for token in [&ours, &theirs] {
                // Through the installed provider (ring)...
                let data = jsonwebtoken::decode::<serde_json::Value>(
                    token,
                    &decoding,
                    &validation(alg.jwt()),
                )
                .unwrap();
                assert_eq!(data.claims, claims());
                // ...and through rust_crypto directly.
                let (message, sig) = token.rsplit_once('.').unwrap();
                let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
                let theirs =
                    (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg.jwt(), &decoding)
                        .unwrap();
                assert!(theirs.verify(message.as_bytes(), &sig).is_ok());
                // One byte of the claims changed: refused.
                let (head, rest) = token.split_once('.').unwrap();
                let (body, sig) = rest.split_once('.').unwrap();
                let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
                raw[2] ^= 1;
                let forged = format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(raw));
                assert!(
                    jsonwebtoken::decode::<serde_json::Value>(
                        &forged,
                        &decoding,
                        &validation(alg.jwt())
                    )
                    .is_err()
                );
            }
            // The other algorithm's verifier refuses this key.
            let other = match alg {
                SigningAlg::Es256 => Algorithm::RS256,
                SigningAlg::Rs256 => Algorithm::ES256,
            };
            assert!(new_verifier(&other, &decoding).is_err());
        }
    }
}
