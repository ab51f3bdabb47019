//! DPoP (RFC 9449): proofs of possession of a client's key, and tokens bound to that key.
//!
//! A proof is a compact JWS the client makes for each request: `typ` `dpop+jwt`, an asymmetric
//! `alg` (ES256, PS256, RS256 or EdDSA; never `none` or HMAC), the client's public key in the
//! header (`jwk`), and claims naming the request (`htm`, `htu`), its time (`iat`, within
//! [`MAX_AGE_SECS`] back and [`MAX_AHEAD_SECS`] ahead of the injected clock), a unique `jti`
//! (used once: an atomic counter in the shared cache under the org, the key's thumbprint and the
//! `jti`), at resource endpoints the hash of the access token (`ath`), and, when the app asks
//! for it, a nonce of ours (`nonce`). Tokens issued with a proof carry `cnf.jkt`, the key's
//! SHA-256 JWK thumbprint (RFC 7638).
//!
//! Nonces are stateless: a time bucket of [`NONCE_BUCKET_SECS`] and a MAC of the org and the
//! bucket with a key derived from the key encryption key (`KeyService::mac`), so every node
//! recognises every node's nonces; the current and the previous bucket are accepted.
//!
//! The cache being away is never a verdict on a proof: the `jti` cannot be checked, so the
//! request is answered `temporarily_unavailable` (503), neither accepted nor refused.

use super::error::{OidcError, OidcErrorCode as E};
use crate::apps::App;
use crate::clock::SharedClock;
use crate::keys::KeyService;
use crate::secrets::{constant_time_eq, sha256_hex};
use crate::store::cache::{Cache, CacheError, CacheKey};
use crate::tenancy::OrgId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use url::Url;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";
/// The algorithms a proof may be signed with (discovery's `dpop_signing_alg_values_supported`).
pub const SIGNING_ALGS: [&str; 4] = ["ES256", "PS256", "RS256", "EdDSA"];
/// How old a proof's `iat` may be.
pub const MAX_AGE_SECS: i64 = 60;
/// How far ahead of our clock a proof's `iat` may be (the client's clock runs a little fast).
pub const MAX_AHEAD_SECS: i64 = 5;
/// How long a `jti` is remembered: as long as a proof with it can pass the `iat` check, and
/// some.
const JTI_TTL: Duration = Duration::from_secs(70);
/// The lifetime of a nonce bucket; a nonce is accepted in its bucket and the next.
pub const NONCE_BUCKET_SECS: i64 = 300;
/// The largest proof read (an RSA 4096 key and signature fit in well under half of it).
const MAX_PROOF_LEN: usize = 8 * 1024;
/// The smallest RSA modulus accepted: 2048 bits.
const MIN_RSA_MODULUS_BYTES: usize = 256;
const MAX_JTI_LEN: usize = 256;
/// JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// What the MAC of a nonce is made for.
const NONCE_PURPOSE: &str = "dpop-nonce";

/// The DPoP side of a request as received: every `DPoP` header value, the request's method,
/// and the URL of the endpoint at our public URL (what `htu` must name).
#[derive(Debug, Clone, Default)]
pub struct DpopContext {
    pub proofs: Vec<String>,
    pub method: String,
    pub htu: String,
}

impl DpopContext {
    pub fn presented(&self) -> bool {
        !self.proofs.is_empty()
    }
}

/// How an access token was presented at a resource endpoint (RFC 6750 `Bearer`, RFC 9449
/// `DPoP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    Bearer,
    Dpop,
}

/// The `cnf` claim of a bound access token (RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// Why a proof was not accepted.
#[derive(Debug)]
pub enum ProofError {
    /// `invalid_dpop_proof`, with what is wrong.
    Invalid(&'static str),
    /// `use_dpop_nonce`: the app wants a current nonce of ours in the proof.
    NonceNeeded,
    /// The `jti` could not be checked: the cache is away.
    Unavailable(CacheError),
}

impl From<ProofError> for OidcError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::Invalid(why) => OidcError::new(E::InvalidDpopProof, why),
            ProofError::NonceNeeded => OidcError::new(
                E::UseDpopNonce,
                "a DPoP nonce is required: make a new proof with the DPoP-Nonce of this answer",
            ),
            ProofError::Unavailable(e) => OidcError::server(e),
        }
    }
}

/// The description of the refusal of a bound token presented as a bearer token (the edge
/// answers it with a DPoP challenge).
pub const BOUND_AS_BEARER: &str = "this access token is DPoP-bound: present it with the DPoP \
                                   scheme and a DPoP proof";

/// What a proof must match.
struct Expected<'a> {
    method: &'a str,
    htu: &'a str,
    /// At resource endpoints: the access token whose hash `ath` must be.
    access_token: Option<&'a str>,
}

/// The claims of a proof.
#[derive(Debug, Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// A proof that passed every check but the single use of its `jti`.
#[derive(Debug)]
struct Checked {
    jkt: String,
    jti: String,
}

fn invalid(why: &'static str) -> ProofError {
    ProofError::Invalid(why)
}

/// base64url(SHA-256(access token)): `ath` (RFC 9449 §4.2).
pub fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The proof's header: a JSON object.
fn proof_header(proof: &str) -> Result<serde_json::Map<String, serde_json::Value>, ProofError> {
    let not_jws = || invalid("the DPoP proof is not a compact JWS");
    if proof.split('.').count() != 3 {
        return Err(not_jws());
    }
    let head = proof.split('.').next().ok_or_else(not_jws)?;
    let raw = URL_SAFE_NO_PAD.decode(head).map_err(|_| not_jws())?;
    serde_json::from_slice(&raw).map_err(|_| not_jws())
}

/// The algorithm of the header, if it is one a proof may use.
fn proof_alg(header: &serde_json::Map<String, serde_json::Value>) -> Result<Algorithm, ProofError> {
    match header.get("alg").and_then(|a| a.as_str()) {
        Some("ES256") => Ok(Algorithm::ES256),
        Some("PS256") => Ok(Algorithm::PS256),
        Some("RS256") => Ok(Algorithm::RS256),
        Some("EdDSA") => Ok(Algorithm::EdDSA),
        _ => Err(invalid(
            "the DPoP proof's alg must be one of ES256, PS256, RS256, EdDSA",
        )),
    }
}

/// The public key of the header (`jwk`), if it is a public key that fits `alg`.
fn proof_key(
    header: &serde_json::Map<String, serde_json::Value>,
    alg: Algorithm,
) -> Result<Jwk, ProofError> {
    let Some(raw) = header.get("jwk").and_then(|j| j.as_object()) else {
        return Err(invalid(
            "the DPoP proof's header must carry its public key (jwk)",
        ));
    };
    if PRIVATE_MEMBERS.iter().any(|m| raw.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(raw.clone()))
        .map_err(|_| invalid("the DPoP proof's jwk is not a valid key"))?;
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::RSA(p), Algorithm::RS256 | Algorithm::PS256) => URL_SAFE_NO_PAD
            .decode(&p.n)
            .is_ok_and(|n| n.iter().skip_while(|b| **b == 0).count() >= MIN_RSA_MODULUS_BYTES),
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    if !fits {
        return Err(invalid(
            "the DPoP proof's jwk does not fit its alg (P-256 for ES256, RSA of 2048 bits or more for PS256 and RS256, Ed25519 for EdDSA)",
        ));
    }
    Ok(jwk)
}

/// Whether `claimed` names the endpoint `expected`: the same scheme, host and port (compared
/// as URLs: case-insensitive scheme and host, default ports) and path; query and fragment are
/// ignored (RFC 9449 §4.3).
fn htu_matches(claimed: &str, expected: &str) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(claimed), Url::parse(expected)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
        && a.username().is_empty()
        && a.password().is_none()
}

/// Every check of a proof but its single use: form, key, signature, the request it names, its
/// time, `ath` and, when `nonce` is given (the check of a nonce of ours), the nonce.
fn check_proof(
    proof: &str,
    want: &Expected<'_>,
    now: i64,
    nonce: Option<&dyn Fn(&str) -> bool>,
) -> Result<Checked, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the DPoP proof is too large"));
    }
    let header = proof_header(proof)?;
    let typ = header.get("typ").and_then(|t| t.as_str());
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case(PROOF_TYP)) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = proof_alg(&header)?;
    let jwk = proof_key(&header, alg)?;
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| invalid("the DPoP proof's jwk is not a valid key"))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|_| invalid("the DPoP proof's signature or claims are not valid"))?
        .claims;
    check_claims(&claims, want, now, nonce)?;
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("the DPoP proof's jwk is not a valid key"))?;
    Ok(Checked {
        jkt,
        jti: claims.jti,
    })
}

/// The claims of a signed proof against the request.
fn check_claims(
    c: &ProofClaims,
    want: &Expected<'_>,
    now: i64,
    nonce: Option<&dyn Fn(&str) -> bool>,
) -> Result<(), ProofError> {
    if c.jti.is_empty() || c.jti.len() > MAX_JTI_LEN {
        return Err(invalid("the DPoP proof needs a jti"));
    }
    if c.htm != want.method {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    if !htu_matches(&c.htu, want.htu) {
        return Err(invalid("the DPoP proof's htu is not this endpoint"));
    }
    if c.iat < now - MAX_AGE_SECS || c.iat > now + MAX_AHEAD_SECS {
        return Err(invalid(
            "the DPoP proof's iat is outside the accepted window: make a new proof",
        ));
    }
    if let Some(token) = want.access_token
        && !c
            .ath
            .as_deref()
            .is_some_and(|ath| constant_time_eq(ath, &token_hash(token)))
    {
        return Err(invalid(
            "the DPoP proof's ath is not the hash of this access token",
        ));
    }
    if let Some(valid) = nonce
        && !c.nonce.as_deref().is_some_and(valid)
    {
        return Err(ProofError::NonceNeeded);
    }
    Ok(())
}

/// The MAC of nonces (`KeyService::mac` for them; a stand-in in unit tests).
type NonceMac<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// The nonce of `org` for the bucket `bucket`: the bucket and a MAC of org and bucket.
fn nonce_for(mac: NonceMac<'_>, org: OrgId, bucket: i64) -> String {
    let mut raw = bucket.to_be_bytes().to_vec();
    raw.extend_from_slice(&nonce_tag(mac, org, bucket));
    URL_SAFE_NO_PAD.encode(raw)
}

fn nonce_tag(mac: NonceMac<'_>, org: OrgId, bucket: i64) -> Vec<u8> {
    let mut message = org.0.as_bytes().to_vec();
    message.extend_from_slice(&bucket.to_be_bytes());
    let mut tag = mac(&message);
    tag.truncate(16);
    tag
}

/// Whether `nonce` is `org`'s nonce of the current or the previous bucket at `now`.
fn nonce_valid(mac: NonceMac<'_>, org: OrgId, nonce: &str, now: i64) -> bool {
    let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
        return false;
    };
    let Some((bucket, tag)) = raw.split_first_chunk::<8>() else {
        return false;
    };
    let bucket = i64::from_be_bytes(*bucket);
    let current = now.div_euclid(NONCE_BUCKET_SECS);
    if bucket != current && bucket != current - 1 {
        return false;
    }
    bool::from(tag.ct_eq(&nonce_tag(mac, org, bucket)))
}

/// Checks the proofs of requests and what the tokens they bind are allowed.
#[derive(Debug, Clone)]
pub struct DpopVerifier {
    cache: Cache,
    keys: KeyService,
    clock: SharedClock,
}

impl DpopVerifier {
    pub fn new(cache: Cache, keys: KeyService, clock: SharedClock) -> Self {
        Self { cache, keys, clock }
    }

    fn nonce_mac(&self, message: &[u8]) -> Vec<u8> {
        self.keys.mac(NONCE_PURPOSE, message)
    }

    /// The org's current nonce (for `DPoP-Nonce`).
    pub fn nonce(&self, org: OrgId) -> String {
        let now = self.clock.now().timestamp();
        let mac = |m: &[u8]| self.nonce_mac(m);
        nonce_for(&mac, org, now.div_euclid(NONCE_BUCKET_SECS))
    }

    /// The proof of a request, checked: the thumbprint of its key, or `None` when the request
    /// carries no `DPoP` header. More than one header is refused.
    async fn verify(
        &self,
        org: OrgId,
        ctx: &DpopContext,
        access_token: Option<&str>,
        nonce_required: bool,
    ) -> Result<Option<String>, ProofError> {
        let proof = match ctx.proofs.as_slice() {
            [] => return Ok(None),
            [one] => one,
            _ => return Err(invalid("a request carries exactly one DPoP header")),
        };
        let want = Expected {
            method: &ctx.method,
            htu: &ctx.htu,
            access_token,
        };
        let now = self.clock.now().timestamp();
        let mac = |m: &[u8]| self.nonce_mac(m);
        let ours = |n: &str| nonce_valid(&mac, org, n, now);
        let nonce: Option<&dyn Fn(&str) -> bool> = nonce_required.then_some(&ours);
        let checked = check_proof(proof, &want, now, nonce)?;
        // Used once: per key, so one client's jti cannot collide with another's.
        let key = CacheKey::org(
            org,
            "dpop-jti",
            &sha256_hex(&format!("{}:{}", checked.jkt, checked.jti)),
        );
        match self.cache.incr(&key, JTI_TTL).await {
            Ok(1) => Ok(Some(checked.jkt)),
            Ok(_) => Err(invalid("the DPoP proof was used before: make a new one")),
            Err(e) => Err(ProofError::Unavailable(e)),
        }
    }

    /// The proof of a token request, under the app's rules: the key the tokens are to be bound
    /// to, `None` without a proof (refused when the app requires DPoP).
    pub async fn token_request(
        &self,
        org: OrgId,
        app: &App,
        ctx: &DpopContext,
    ) -> Result<Option<String>, OidcError> {
        let jkt = self
            .verify(org, ctx, None, app.settings.dpop.nonce_required)
            .await?;
        if jkt.is_none() && app.settings.dpop.required {
            return Err(OidcError::new(
                E::InvalidDpopProof,
                "this app requires DPoP: send a DPoP proof",
            ));
        }
        Ok(jkt)
    }

    /// A resource request (userinfo) with `token`, of `app`, bound to `cnf` (if it is): a bound
    /// token needs the DPoP scheme and a proof by its key over it; an unbound one the Bearer
    /// scheme, and none at all if the app requires DPoP.
    pub async fn resource_request(
        &self,
        org: OrgId,
        app: &App,
        cnf: Option<&Confirmation>,
        token: &str,
        scheme: TokenScheme,
        ctx: &DpopContext,
    ) -> Result<(), OidcError> {
        let refuse = |why: &str| OidcError::new(E::InvalidToken, why);
        match (cnf, scheme) {
            (Some(_), TokenScheme::Bearer) => Err(refuse(BOUND_AS_BEARER)),
            (None, TokenScheme::Dpop) => Err(refuse(
                "this access token is not DPoP-bound: present it with the Bearer scheme",
            )),
            (None, TokenScheme::Bearer) if app.settings.dpop.required => {
                Err(refuse("this app's access tokens must be DPoP-bound"))
            }
            (None, TokenScheme::Bearer) => Ok(()),
            (Some(cnf), TokenScheme::Dpop) => {
                let jkt = self
                    .verify(org, ctx, Some(token), app.settings.dpop.nonce_required)
                    .await?
                    .ok_or_else(|| {
                        OidcError::new(E::InvalidDpopProof, "a DPoP proof is required")
                    })?;
                if jkt != cnf.jkt {
                    return Err(OidcError::new(
                        E::InvalidDpopProof,
                        "the DPoP proof is not made with the key the access token is bound to",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
        RSA_PSS_SHA256, RsaKeyPair,
    };

    const NOW: i64 = 1_767_225_600;
    const HTU: &str = "https://idp.example.com/o/acme/token";

    enum TestKey {
        Es(EcdsaKeyPair),
        Ed(Ed25519KeyPair),
        Rsa(RsaKeyPair),
    }

    impl TestKey {
        fn es256() -> Self {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Self::Es(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
                    .unwrap(),
            )
        }

        fn ed25519() -> Self {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
            Self::Ed(Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap())
        }

        fn rsa() -> Self {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048).unwrap();
            Self::Rsa(RsaKeyPair::from_der(key.to_pkcs1_der().unwrap().as_bytes()).unwrap())
        }

        fn jwk(&self) -> serde_json::Value {
            let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
            match self {
                Self::Es(k) => {
                    let p = k.public_key().as_ref();
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": b(&p[1..33]), "y": b(&p[33..])})
                }
                Self::Ed(k) => {
                    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b(k.public_key().as_ref())})
                }
                Self::Rsa(k) => {
                    let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public());
                    serde_json::json!({"kty": "RSA", "n": b(&c.n), "e": b(&c.e)})
                }
            }
        }

        fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                Self::Es(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
                Self::Ed(k) => k.sign(msg).as_ref().to_vec(),
                Self::Rsa(k) => {
                    let mut out = vec![0; k.public().modulus_len()];
                    let pad: &dyn ring::signature::RsaEncoding = if alg == "PS256" {
                        &RSA_PSS_SHA256
                    } else {
                        &RSA_PKCS1_SHA256
                    };
                    k.sign(pad, &rng, msg, &mut out).unwrap();
                    out
                }
            }
        }
    }

    fn make(key: &TestKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("ES256").to_owned();
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = key.sign(&alg, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }

    fn header(key: &TestKey, alg: &str) -> serde_json::Value {
        serde_json::json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk()})
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"jti": "j-1", "htm": "POST", "htu": HTU, "iat": NOW})
    }

    fn want() -> Expected<'static> {
        Expected {
            method: "POST",
            htu: HTU,
            access_token: None,
        }
    }

    fn check(proof: &str) -> Result<Checked, ProofError> {
        check_proof(proof, &want(), NOW, None)
    }

    fn refused(result: Result<Checked, ProofError>, what: &str) {
        match result {
            Err(ProofError::Invalid(why)) => assert!(why.contains(what), "{why}"),
            other => panic!("expected a refusal about {what}: {other:?}"),
        }
    }

    #[test]
    fn each_algorithm_verifies_and_gives_the_rfc_7638_thumbprint() {
        for (key, alg) in [
            (TestKey::es256(), "ES256"),
            (TestKey::ed25519(), "EdDSA"),
            (TestKey::rsa(), "RS256"),
            (TestKey::rsa(), "PS256"),
        ] {
            let proof = make(&key, header(&key, alg), claims());
            let checked = check(&proof).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
            let jwk: Jwk = serde_json::from_value(key.jwk()).unwrap();
            assert_eq!(checked.jkt, jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
            assert_eq!(checked.jti, "j-1");
            // One byte of the claims changed: the signature no longer holds.
            let (head, rest) = proof.split_once('.').unwrap();
            let (_, sig) = rest.split_once('.').unwrap();
            let mut other = claims();
            other["jti"] = "j-2".into();
            let forged = format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(other.to_string()));
            refused(check(&forged), "signature");
        }
    }

    #[test]
    fn rfc_7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "e": "AQAB",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        })).unwrap();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn the_header_is_checked() {
        let key = TestKey::es256();
        let mut h = header(&key, "ES256");
        h["typ"] = "JWT".into();
        refused(check(&make(&key, h, claims())), "typ");
        let mut h = header(&key, "ES256");
        h.as_object_mut().unwrap().remove("typ");
        refused(check(&make(&key, h, claims())), "typ");
        for alg in ["none", "HS256", "ES384", "RS512"] {
            let h = header(&key, alg);
            refused(check(&make(&key, h, claims())), "alg");
        }
        let mut h = header(&key, "ES256");
        h.as_object_mut().unwrap().remove("jwk");
        refused(check(&make(&key, h, claims())), "jwk");
        // A private key in the header: refused whatever else holds.
        let mut h = header(&key, "ES256");
        h["jwk"]["d"] = "c2VjcmV0".into();
        refused(check(&make(&key, h, claims())), "public key");
        // A symmetric key.
        let h = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        refused(check(&make(&key, h, claims())), "public key");
        // A key of another kind than the alg.
        let ed = TestKey::ed25519();
        let mut h = header(&key, "ES256");
        h["jwk"] = ed.jwk();
        refused(check(&make(&key, h, claims())), "does not fit");
        // Another P-256 key than the one that signed.
        let other = TestKey::es256();
        let mut h = header(&key, "ES256");
        h["jwk"] = other.jwk();
        refused(check(&make(&key, h, claims())), "signature");
        refused(check("not-a-jws"), "compact JWS");
        refused(check(&"a".repeat(MAX_PROOF_LEN + 1)), "too large");
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        use rsa::traits::PublicKeyParts;
        let small = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 1024).unwrap();
        let b = |v: Vec<u8>| URL_SAFE_NO_PAD.encode(v);
        let jwk = serde_json::json!({
            "kty": "RSA", "n": b(small.n().to_bytes_be()), "e": b(small.e().to_bytes_be())
        });
        let h = serde_json::json!({"typ": "dpop+jwt", "alg": "PS256", "jwk": jwk});
        // (ring will not sign with a key this small: the signature is never looked at.)
        let proof = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string()),
            URL_SAFE_NO_PAD.encode([1u8; 128])
        );
        refused(check(&proof), "does not fit");
    }

    #[test]
    fn the_claims_name_this_request_at_this_time() {
        let key = TestKey::es256();
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims();
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v;
            }
            make(&key, header(&key, "ES256"), c)
        };
        refused(check(&with("htm", "GET".into())), "htm");
        refused(check(&with("htm", "post".into())), "htm");
        refused(
            check(&with(
                "htu",
                "https://idp.example.com/o/acme/userinfo".into(),
            )),
            "htu",
        );
        refused(
            check(&with("htu", "https://idp.example.com/o/other/token".into())),
            "htu",
        );
        refused(
            check(&with("htu", "http://idp.example.com/o/acme/token".into())),
            "htu",
        );
        refused(
            check(&with(
                "htu",
                "https://idp.example.com:8443/o/acme/token".into(),
            )),
            "htu",
        );
        // Query, fragment, case of scheme and host, the default port: the same endpoint.
        for same in [
            "https://idp.example.com/o/acme/token?x=1#f",
            "HTTPS://IDP.Example.COM/o/acme/token",
            "https://idp.example.com:443/o/acme/token",
        ] {
            assert!(check(&with("htu", same.into())).is_ok(), "{same}");
        }
        refused(check(&with("iat", (NOW - MAX_AGE_SECS - 1).into())), "iat");
        refused(
            check(&with("iat", (NOW + MAX_AHEAD_SECS + 1).into())),
            "iat",
        );
        assert!(check(&with("iat", (NOW - MAX_AGE_SECS).into())).is_ok());
        assert!(check(&with("iat", (NOW + MAX_AHEAD_SECS).into())).is_ok());
        refused(check(&with("iat", serde_json::Value::Null)), "claims");
        refused(check(&with("jti", serde_json::Value::Null)), "claims");
        refused(check(&with("jti", "".into())), "jti");
    }

    #[test]
    fn ath_binds_the_proof_to_the_access_token() {
        let key = TestKey::es256();
        let at = Expected {
            method: "GET",
            htu: HTU,
            access_token: Some("the-token"),
        };
        let mut c = claims();
        c["htm"] = "GET".into();
        let proof = make(&key, header(&key, "ES256"), c.clone());
        refused(check_proof(&proof, &at, NOW, None), "ath");
        c["ath"] = token_hash("another-token").into();
        let proof = make(&key, header(&key, "ES256"), c.clone());
        refused(check_proof(&proof, &at, NOW, None), "ath");
        c["ath"] = token_hash("the-token").into();
        let proof = make(&key, header(&key, "ES256"), c);
        assert!(check_proof(&proof, &at, NOW, None).is_ok());
        // RFC 9449 §7.1's example.
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn a_nonce_is_asked_for_when_required() {
        let key = TestKey::es256();
        let good = |n: &str| n == "ours";
        let proof = make(&key, header(&key, "ES256"), claims());
        assert!(matches!(
            check_proof(&proof, &want(), NOW, Some(&good)),
            Err(ProofError::NonceNeeded)
        ));
        let mut c = claims();
        c["nonce"] = "stale".into();
        let proof = make(&key, header(&key, "ES256"), c.clone());
        assert!(matches!(
            check_proof(&proof, &want(), NOW, Some(&good)),
            Err(ProofError::NonceNeeded)
        ));
        c["nonce"] = "ours".into();
        let proof = make(&key, header(&key, "ES256"), c);
        assert!(check_proof(&proof, &want(), NOW, Some(&good)).is_ok());
    }

    #[test]
    fn nonces_live_two_buckets_and_belong_to_their_org() {
        let mac = |m: &[u8]| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"test key");
            ring::hmac::sign(&key, m).as_ref().to_vec()
        };
        let other_mac = |m: &[u8]| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"other key");
            ring::hmac::sign(&key, m).as_ref().to_vec()
        };
        let org = OrgId(uuid::Uuid::new_v4());
        let bucket = NOW.div_euclid(NONCE_BUCKET_SECS);
        let nonce = nonce_for(&mac, org, bucket);
        assert!(nonce_valid(&mac, org, &nonce, NOW));
        assert!(nonce_valid(&mac, org, &nonce, NOW + NONCE_BUCKET_SECS));
        assert!(!nonce_valid(&mac, org, &nonce, NOW + 2 * NONCE_BUCKET_SECS));
        assert!(
            !nonce_valid(&mac, org, &nonce, NOW - NONCE_BUCKET_SECS),
            "not before its bucket"
        );
        assert!(
            !nonce_valid(&mac, OrgId(uuid::Uuid::new_v4()), &nonce, NOW),
            "another org"
        );
        assert!(!nonce_valid(&other_mac, org, &nonce, NOW), "another key");
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        raw[10] ^= 1;
        assert!(!nonce_valid(&mac, org, &URL_SAFE_NO_PAD.encode(raw), NOW));
        assert!(!nonce_valid(&mac, org, "short", NOW));
        assert_ne!(nonce, nonce_for(&mac, org, bucket + 1));
    }
}
