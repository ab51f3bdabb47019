//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): the app signs a
//! short-lived JWT with one of its own keys instead of sending a secret.
//!
//! Checks: the algorithm is one Portcullis verifies (ES256, RS256, PS256, EdDSA; never `none`
//! or HMAC), the key is one of the app's (registered inline, or fetched from its `jwks_uri`
//! through the outbound client, which refuses private addresses), `iss` and `sub` are the
//! client id, `aud` names this issuer or one of its endpoints, `exp` is in the future and at
//! most `MAX_ASSERTION_LIFETIME_SECS` away (on the injected clock), and `jti` is used once
//! (`OidcService::client_assertion`, a single-use value in the database).

use crate::apps::{App, AppId, check_public_jwks};
use crate::clock::SharedClock;
use crate::outbound::OutboundClient;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may still be valid for when it arrives: assertions are made for
/// one request, and the `jti` is remembered this long.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const SKEW_SECS: i64 = 30;
/// The largest assertion read.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// The longest `jti` taken.
const MAX_JTI_LEN: usize = 256;
/// A fetched JWK Set is used this long before it is fetched again.
const JWKS_FRESH_SECS: i64 = 300;
/// An unknown `kid` fetches the set again at most this often per app (an attacker's random
/// `kid`s must not make us hammer the app's server).
const JWKS_REFETCH_SECS: i64 = 30;
/// A fetched set serves at most this long past its fetch while new fetches fail (a key the
/// app removed must not be accepted for ever because its server is down).
const JWKS_STALE_SECS: i64 = 3600;
/// At most this many apps' fetched sets are kept per node (the map starts over past it).
const MAX_CACHED_SETS: usize = 10_000;

/// The algorithms an assertion may be signed with.
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Why an assertion was refused; every one of them is `invalid_client` on the wire (the
/// description says which check failed, never anything secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the client assertion is malformed")]
    Malformed,
    #[error("the client assertion's algorithm is not accepted (ES256, RS256, PS256, EdDSA)")]
    Algorithm,
    #[error("the client assertion's iss and sub must both be the client_id")]
    Subject,
    #[error("the client assertion's aud must name this issuer or its endpoint")]
    Audience,
    #[error("the client assertion has expired or lives too long (exp at most 5 minutes ahead)")]
    Lifetime,
    #[error("the client assertion needs a jti")]
    MissingJti,
    #[error("no key of the app verifies the client assertion")]
    Signature,
    #[error("the app's keys could not be fetched from its jwks_uri")]
    KeysUnavailable,
}

/// The claims an assertion must carry (the rest are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The client id an assertion claims to come from (`sub`, else `iss`), read before any check
/// so that the app (and its keys) can be found. Nothing else is trusted from this read.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sub")
        .or_else(|| claims.get("iss"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The time checks of an assertion's claims, on our clock.
fn check_times(c: &AssertionClaims, now: DateTime<Utc>) -> Result<(), AssertionError> {
    let now = now.timestamp();
    let expired = c.exp.saturating_add(SKEW_SECS) <= now;
    let too_long = c.exp.saturating_sub(now) > MAX_ASSERTION_LIFETIME_SECS + SKEW_SECS;
    let early = c.nbf.is_some_and(|nbf| nbf.saturating_sub(SKEW_SECS) > now)
        || c.iat.is_some_and(|iat| iat.saturating_sub(SKEW_SECS) > now);
    if expired || too_long || early {
        return Err(AssertionError::Lifetime);
    }
    Ok(())
}

/// Whether `jwk` can verify `alg`: its type matches, and its own `alg`, if any, is the same.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    if jwk
        .common
        .key_algorithm
        .is_some_and(|a| a.to_string() != format!("{alg:?}"))
    {
        return false;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return false;
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256) => true,
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

/// Verifies the signature of `assertion` with the keys of `set` that fit (the one named by
/// `kid`, or, without a `kid`, each key of the right type), and returns its claims.
fn verify_with(
    set: &JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
    assertion: &str,
) -> Option<AssertionClaims> {
    let mut validation = Validation::new(alg);
    // Times and audience are checked on our clock and against our issuer afterwards.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    set.keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| key_fits(k, alg))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .find_map(|key| {
            jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
                .ok()
                .map(|d| d.claims)
        })
}

/// An app's `jwks_uri` as last seen on this node: the set last fetched, when, and when a
/// fetch was last tried (successful or not).
#[derive(Clone, Debug)]
struct Fetched {
    uri: String,
    set: Option<Arc<JwkSet>>,
    fetched_at: DateTime<Utc>,
    tried_at: DateTime<Utc>,
}

/// The apps' fetched key sets, per node.
#[derive(Clone, Debug)]
pub struct ClientKeys {
    outbound: Option<OutboundClient>,
    clock: SharedClock,
    sets: Arc<Mutex<HashMap<AppId, Fetched>>>,
    /// One fetch at a time per app: concurrent requests wait for it and share its result.
    fetching: Arc<Mutex<HashMap<AppId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl ClientKeys {
    pub fn new(outbound: Option<OutboundClient>, clock: SharedClock) -> Self {
        Self {
            outbound,
            clock,
            sets: Default::default(),
            fetching: Default::default(),
        }
    }

    fn cached(&self, app: AppId, uri: &str) -> Option<Fetched> {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.get(&app).filter(|f| f.uri == uri).cloned()
    }

    fn keep(&self, app: AppId, fetched: Fetched) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if sets.len() >= MAX_CACHED_SETS {
            sets.clear();
        }
        sets.insert(app, fetched);
    }

    fn fetch_lock(&self, app: AppId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= MAX_CACHED_SETS {
            locks.clear();
        }
        locks.entry(app).or_default().clone()
    }

    /// Fetches an app's set: one GET through the outbound client, at most 64 KiB, a valid
    /// set of public keys.
    async fn fetch(&self, uri: &str) -> Result<JwkSet, String> {
        let client = self.outbound.as_ref().ok_or("no outbound client")?;
        let body = client
            .get_bounded(uri, crate::apps::MAX_APP_JWKS_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| "not JSON")?;
        check_public_jwks(&value)?;
        serde_json::from_value(value).map_err(|_| "not a JWK Set".to_owned())
    }

    /// The set to verify with: the cached copy while fresh, else a new fetch, at most one per
    /// `JWKS_REFETCH_SECS` per app whatever its outcome (so neither random `kid`s nor a failing
    /// host make us fetch on every request), one at a time. A stale copy serves while fetches
    /// fail, for at most `JWKS_STALE_SECS`. `unknown_kid` asks for a fetch although the copy is
    /// fresh.
    async fn set_for(
        &self,
        app: AppId,
        uri: &str,
        unknown_kid: bool,
    ) -> Result<Arc<JwkSet>, AssertionError> {
        let usable = |f: &Fetched, now: DateTime<Utc>| {
            f.set
                .clone()
                .filter(|_| (now - f.fetched_at).num_seconds() < JWKS_STALE_SECS)
        };
        let recent =
            |f: &Fetched, now: DateTime<Utc>| (now - f.tried_at).num_seconds() < JWKS_REFETCH_SECS;
        let now = self.clock.now();
        if let Some(f) = self.cached(app, uri) {
            let fresh = (now - f.fetched_at).num_seconds() < JWKS_FRESH_SECS;
            if (fresh && !unknown_kid && f.set.is_some()) || recent(&f, now) {
                return usable(&f, now).ok_or(AssertionError::KeysUnavailable);
            }
        }
        let lock = self.fetch_lock(app);
        let _one_at_a_time = lock.lock().await;
        let now = self.clock.now();
        let before = self.cached(app, uri);
        // Another request fetched while this one waited: its outcome is ours.
        if let Some(f) = before.as_ref().filter(|f| recent(f, now)) {
            return usable(f, now).ok_or(AssertionError::KeysUnavailable);
        }
        let mut entry = before.unwrap_or(Fetched {
            uri: uri.to_owned(),
            set: None,
            fetched_at: now,
            tried_at: now,
        });
        entry.tried_at = now;
        match self.fetch(uri).await {
            Ok(set) => {
                entry.set = Some(Arc::new(set));
                entry.fetched_at = now;
            }
            // The details stay in the log: the caller may be anyone naming the client id.
            Err(e) => {
                tracing::warn!(app = %app, error = %e, "private_key_jwt: jwks_uri fetch failed")
            }
        }
        let result = usable(&entry, now).ok_or(AssertionError::KeysUnavailable);
        self.keep(app, entry);
        result
    }

    /// Verifies `assertion` as `app`'s proof of itself for a request to one of `audiences`,
    /// and returns its claims (the caller checks the `jti`).
    pub async fn verify(
        &self,
        app: &App,
        assertion: &str,
        audiences: &[String],
        now: DateTime<Utc>,
    ) -> Result<AssertionClaims, AssertionError> {
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Err(AssertionError::Malformed);
        }
        let header =
            jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(AssertionError::Algorithm);
        }
        let kid = header.kid.as_deref();
        let claims = match (&app.settings.jwks, &app.settings.jwks_uri) {
            (Some(inline), _) => {
                let set: JwkSet = serde_json::from_value(inline.clone())
                    .map_err(|_| AssertionError::Signature)?;
                verify_with(&set, kid, header.alg, assertion)
            }
            (None, Some(uri)) => {
                let set = self.set_for(app.id, uri.as_str(), false).await?;
                match verify_with(&set, kid, header.alg, assertion) {
                    Some(c) => Some(c),
                    // A key the cached set does not know: the app may have rotated.
                    None if kid.is_some_and(|k| set.find(k).is_none()) => {
                        let set = self.set_for(app.id, uri.as_str(), true).await?;
                        verify_with(&set, kid, header.alg, assertion)
                    }
                    None => None,
                }
            }
            (None, None) => None,
        };
        let claims = claims.ok_or(AssertionError::Signature)?;
        if claims.iss != app.client_id || claims.sub != app.client_id {
            return Err(AssertionError::Subject);
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err(AssertionError::Audience);
        }
        check_times(&claims, now)?;
        match claims.jti.as_deref() {
            Some(j) if !j.is_empty() && j.len() <= MAX_JTI_LEN => Ok(claims),
            _ => Err(AssertionError::MissingJti),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, nbf: Option<i64>, iat: Option<i64>) -> AssertionClaims {
        AssertionClaims {
            iss: "c".into(),
            sub: "c".into(),
            aud: vec!["a".into()],
            exp,
            nbf,
            iat,
            jti: Some("j".into()),
        }
    }

    #[test]
    fn times_are_checked_on_our_clock() {
        let now = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        let t = now.timestamp();
        assert!(check_times(&claims(t + 60, None, Some(t)), now).is_ok());
        assert!(check_times(&claims(t + 10, Some(t + 20), None), now).is_ok());
        assert_eq!(
            check_times(&claims(t - SKEW_SECS, None, None), now),
            Err(AssertionError::Lifetime),
            "expired"
        );
        assert_eq!(
            check_times(&claims(t + 3600, None, None), now),
            Err(AssertionError::Lifetime),
            "an assertion valid for an hour is refused"
        );
        assert_eq!(
            check_times(&claims(t + 60, None, Some(t + 120)), now),
            Err(AssertionError::Lifetime),
            "issued in the future"
        );
    }

    #[test]
    fn the_claimed_client_is_read_from_sub_or_iss() {
        let enc = |v: serde_json::Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = |c: serde_json::Value| {
            format!("{}.{}.sig", enc(serde_json::json!({"alg":"ES256"})), enc(c))
        };
        assert_eq!(
            claimed_client_id(&jwt(serde_json::json!({"sub":"app","iss":"x"}))).as_deref(),
            Some("app")
        );
        assert_eq!(
            claimed_client_id(&jwt(serde_json::json!({"iss":"app"}))).as_deref(),
            Some("app")
        );
        assert_eq!(claimed_client_id("not a jwt"), None);
    }

    #[test]
    fn audiences_may_be_one_string_or_a_list() {
        let one: AssertionClaims =
            serde_json::from_value(serde_json::json!({"iss":"c","sub":"c","aud":"x","exp":1}))
                .unwrap();
        assert_eq!(one.aud, vec!["x"]);
        let many: AssertionClaims = serde_json::from_value(
            serde_json::json!({"iss":"c","sub":"c","aud":["x","y"],"exp":1}),
        )
        .unwrap();
        assert_eq!(many.aud, vec!["x", "y"]);
    }
}
