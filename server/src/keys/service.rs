//! Key rules: the first key of an org is made on first use; rotation publishes the successor at
//! once and signs with it from `activates_at`; a key leaves the JWKS
//! `MAX_SIGNED_TOKEN_TTL_SECS` after its successor starts signing, so every token it signed has
//! expired by then.
//!
//! Private keys are stored as AES-256-GCM ciphertext under the key-encryption key from the
//! configuration, with the org id and kid as associated data (a row copied to another org or
//! key id does not decrypt).

use super::error::KeyError;
use super::jose::Signer;
use super::model::{KeyInfo, SigningAlg, StoredKey, StoredSamlKey};
use super::saml::SamlKey;
use crate::apps::MAX_SIGNED_TOKEN_TTL_SECS;
use crate::clock::SharedClock;
use crate::config::KeysConfig;
use crate::secrets::random_token;
use crate::store::Store;
use crate::tenancy::{Org, OrgId};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// The AES-256-GCM key that wraps signing keys, and an HMAC-SHA256 key derived from it for
/// values every node must recognise without sharing state (DPoP nonces). `Debug` never shows
/// them.
#[derive(Clone)]
pub struct KeyEncryptionKey(Arc<LessSafeKey>, ring::hmac::Key);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

impl KeyEncryptionKey {
    /// From base64 (standard or URL-safe) of exactly 32 bytes.
    pub fn from_base64(raw: &str) -> Result<Self, KeyError> {
        let raw = raw.trim();
        let bytes = STANDARD
            .decode(raw)
            .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
            .map_err(|_| KeyError::Encryption("keys.encryption_key is not base64".into()))?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
            KeyError::Encryption("keys.encryption_key must be 32 bytes (base64 of 32 bytes)".into())
        })?;
        // HMAC(kek, label) as the MAC key: never the encryption key itself.
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes);
        let mac = ring::hmac::sign(&derive, b"portcullis/v1/mac-key");
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac.as_ref());
        Ok(Self(Arc::new(LessSafeKey::new(key)), mac))
    }

    /// `encryption_key` if set; otherwise the key file, created with a fresh key (mode 0600)
    /// when missing.
    pub fn from_config(config: &KeysConfig) -> Result<Self, KeyError> {
        if let Some(key) = &config.encryption_key {
            return Self::from_base64(key.expose());
        }
        let path = std::path::Path::new(&config.encryption_key_file);
        match std::fs::read_to_string(path) {
            Ok(raw) => Self::from_base64(&raw),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| KeyError::Encryption("no randomness".into()))?;
                let encoded = STANDARD.encode(bytes);
                write_private_file(path, &encoded).map_err(|e| {
                    KeyError::Encryption(format!("cannot create {}: {e}", path.display()))
                })?;
                tracing::warn!(
                    file = %path.display(),
                    "created a new signing-key encryption key; set keys.encryption_key (the same on every node) for production"
                );
                Self::from_base64(&encoded)
            }
            Err(e) => Err(KeyError::Encryption(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// HMAC-SHA256 of `purpose` and `message` under the derived MAC key (the same on every
    /// node that shares `keys.encryption_key`).
    fn mac(&self, purpose: &str, message: &[u8]) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.1);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(message);
        ctx.sign()
    }

    pub(super) fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Encryption("no randomness".into()))?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError::Encryption("seal failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    pub(super) fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let bad = || {
            KeyError::Encryption(
                "a stored signing key does not decrypt (wrong keys.encryption_key?)".into(),
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn write_private_file(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private_file(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content)
}

pub(super) fn aad(org: OrgId, kid: &str) -> String {
    format!("{org}:{kid}")
}

/// The associated data of a row's SAML key: not interchangeable with its JOSE key.
pub(super) fn saml_aad(org: OrgId, kid: &str) -> String {
    format!("{org}:{kid}:saml")
}

/// A fresh private key as DER (PKCS#8 for P-256, PKCS#1 for RSA: what jsonwebtoken expects).
pub(super) fn generate(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    match alg {
        SigningAlg::Es256 => {
            use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
            let doc = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError::Generate("P-256".into()))?;
            Ok(doc.as_ref().to_vec())
        }
        SigningAlg::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok(der.as_bytes().to_vec())
        }
    }
}

pub(super) fn encoding_key(alg: SigningAlg, der: &[u8]) -> EncodingKey {
    match alg {
        SigningAlg::Es256 => EncodingKey::from_ec_der(der),
        SigningAlg::Rs256 => EncodingKey::from_rsa_der(der),
    }
}

/// The key that signs at `now`: the newest one already active; when none is active yet (a
/// node whose clock is behind the one that made the first key), the earliest published one.
fn active(keys: &[StoredKey], now: DateTime<Utc>) -> Option<&StoredKey> {
    let live = || keys.iter().filter(|k| k.expires_at.is_none_or(|e| e > now));
    live()
        .filter(|k| k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at))
        .or_else(|| live().min_by_key(|k| (k.activates_at, k.created_at)))
}

/// How long a node keeps an org's decrypted keys before reading them again (on the injected
/// clock). Rotation drops them on every node at once (`keys_changed`, through the cache's
/// invalidation channel); this bounds how long a node that missed that message (its cache was
/// away) serves the old set. With an in-process cache no other process can reach the node, so
/// there the keys live at most a second (`Cache::copy_ttl`), like every other copy. A token
/// signed with a key this node does not know yet makes it read them again at once (at most
/// once a second per org).
const LOADED_KEYS_SECS: u64 = 30;

/// A signing key as a node uses it: decrypted and parsed once, not per token.
struct LoadedKey {
    stored: StoredKey,
    signer: Signer,
    decoding: DecodingKey,
    /// The row's SAML key, once made.
    saml: SamlSlot,
}

/// A key row's SAML key as loaded.
enum SamlSlot {
    /// Not made yet (made on the row's first SAML use).
    Absent,
    Ready(SamlKey),
    /// Stored but unusable (it does not decrypt or decode): SAML answers 503 while OIDC goes on
    /// with the row's JOSE key; never made again over the stored one (review L12).
    Broken,
}

impl LoadedKey {
    /// Whether the key is still published at `now` (not retired).
    fn published_at(&self, now: DateTime<Utc>) -> bool {
        self.stored.expires_at.is_none_or(|e| e > now)
    }
}

/// An org's published keys as read at `loaded_at`, with the JWKS document made from them
/// (good until the first of them retires).
struct LoadedKeys {
    keys: Vec<LoadedKey>,
    /// The JWKS document, serialised once per load.
    jwks: Arc<str>,
    jwks_until: Option<DateTime<Utc>>,
    loaded_at: DateTime<Utc>,
}

impl LoadedKeys {
    /// How long ago (on the injected clock) these were read; a clock that went back makes
    /// them old.
    fn age(&self, now: DateTime<Utc>) -> Duration {
        let age = now - self.loaded_at;
        if age < Duration::zero() {
            Duration::MAX
        } else {
            age
        }
    }
}

/// A token this node verified: its signature need not be checked again while it lives.
struct Verified {
    org: OrgId,
    typ: String,
    kid: String,
    exp: i64,
    claims: serde_json::Value,
}

impl Verified {
    fn claims_as<T: DeserializeOwned>(&self) -> Result<T, KeyError> {
        serde_json::from_value(self.claims.clone()).map_err(|_| KeyError::InvalidToken)
    }
}

/// An org's SAML keys at one instant (`KeyService::saml_keys`).
#[derive(Debug, Clone)]
pub struct SamlKeys {
    /// The key that signs now.
    pub signing: SamlKey,
    /// The certificates (DER) published now, oldest first: metadata lists them all.
    pub published: Vec<Vec<u8>>,
}

/// Verified tokens a node remembers (by SHA-256 of the token), at most this many.
const VERIFIED_MAX: usize = 10_000;

#[derive(Clone)]
pub struct KeyService {
    store: Store,
    cache: crate::store::cache::Cache,
    clock: SharedClock,
    kek: KeyEncryptionKey,
    loaded: Arc<RwLock<HashMap<OrgId, Arc<LoadedKeys>>>>,
    /// Bumped by every drop: a read that started before a drop does not store what it read
    /// (it may predate the rotation that caused the drop).
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// Tokens whose signature this node checked, until they expire: an app calling userinfo
    /// or introspection with the same token does not pay for the signature check each time.
    /// Liveness (the app session, revocation) is never taken from here: callers check it.
    verified: Arc<std::sync::Mutex<HashMap<String, Arc<Verified>>>>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService").finish_non_exhaustive()
    }
}

/// The invalidation message of an org's keys.
fn keys_message(org: OrgId) -> crate::store::cache::CacheKey {
    crate::store::cache::CacheKey::org(org, "signing-keys", "all")
}

impl KeyService {
    /// Needs a Tokio runtime: it starts the task that drops an org's keys when any node rotates
    /// them.
    pub fn new(
        store: Store,
        cache: crate::store::cache::Cache,
        clock: SharedClock,
        kek: KeyEncryptionKey,
    ) -> Self {
        super::jose::install();
        let service = Self {
            store,
            cache,
            clock,
            kek,
            loaded: Arc::default(),
            generation: Arc::default(),
            verified: Arc::default(),
        };
        service.watch_invalidations();
        service
    }

    /// A MAC of `message` for `purpose` (a short label) with a key derived from the key
    /// encryption key: stateless values any node can check (DPoP nonces). Compare tags with
    /// `crate::secrets::constant_time_eq` or `subtle`.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> Vec<u8> {
        self.kek.mac(purpose, message).as_ref().to_vec()
    }

    /// Seals a secret an org admin set (an audit sink's HMAC secret) with the key encryption
    /// key, bound to `label` (associated data naming the org and the use): the database holds
    /// only the sealed value.
    pub fn seal_secret(&self, label: &str, secret: &[u8]) -> Result<String, KeyError> {
        self.kek.seal(label, secret)
    }

    /// Opens a value sealed by [`KeyService::seal_secret`] with the same `label`.
    pub fn open_secret(&self, label: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        self.kek.open(label, sealed)
    }

    /// Drops a node's decrypted keys of the org named by an invalidation message from any node
    /// (a rotation there), all of them when messages were missed.
    fn watch_invalidations(&self) {
        let generation = self.generation.clone();
        self.cache
            .on_invalidation(&self.loaded, move |loaded, message| {
                let mut map = loaded.write().unwrap_or_else(|p| p.into_inner());
                generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if message.is_empty() {
                    map.clear();
                } else {
                    map.retain(|org, _| keys_message(*org).as_str() != message);
                }
            });
    }

    /// After a rotation: this node reads the keys again at once, and every other node is told.
    async fn keys_changed(&self, org: OrgId) {
        self.forget(org);
        if let Err(err) = self.cache.publish_invalidation(&keys_message(org)).await {
            tracing::warn!(error = %err, "could not publish the signing-key invalidation");
        }
    }

    fn forget(&self, org: OrgId) {
        let mut map = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        map.remove(&org);
        drop(map);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, v| v.org != org);
    }

    fn remember_verified(&self, hash: String, verified: Arc<Verified>, now: DateTime<Utc>) {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= VERIFIED_MAX {
            map.retain(|_, v| v.exp > now.timestamp());
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
        }
        map.insert(hash, verified);
    }

    /// The org's published keys, decrypted: from this node's copy while it is fresh, else
    /// read (and the first key made on first use).
    async fn loaded(&self, org: OrgId) -> Result<Arc<LoadedKeys>, KeyError> {
        if let Some(keys) = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&org)
            .filter(|k| {
                let ttl = self
                    .cache
                    .copy_ttl(std::time::Duration::from_secs(LOADED_KEYS_SECS));
                k.age(self.clock.now()) < Duration::from_std(ttl).unwrap_or(Duration::zero())
            })
        {
            return Ok(keys.clone());
        }
        self.load(org).await
    }

    async fn load(&self, org: OrgId) -> Result<Arc<LoadedKeys>, KeyError> {
        let started = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let stored = self.keys_or_first(org).await?;
        let mut keys = Vec::with_capacity(stored.len());
        for (key, saml) in stored {
            let der = self
                .kek
                .open(&aad(org, &key.kid), &key.encrypted_private_key)?;
            let jwk: Jwk = serde_json::from_value(key.public_jwk.clone())
                .map_err(|e| KeyError::Sign(format!("stored public key: {e}")))?;
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|e| KeyError::Sign(format!("stored public key: {e}")))?;
            // A key that cannot be used (ring refuses it) is left out, not the org's whole set:
            // the others still sign and verify.
            let signer = match Signer::new(key.alg, &der) {
                Ok(signer) => signer,
                Err(e) => {
                    tracing::error!(org = %org, kid = %key.kid, error = %e, "a stored signing key cannot be used; left out");
                    continue;
                }
            };
            // A SAML key that cannot be opened breaks SAML only, never the org's OIDC keys.
            let saml = match saml.map(|saml| self.open_saml(org, &key.kid, &saml)) {
                Some(Ok(saml)) => SamlSlot::Ready(saml),
                Some(Err(e)) => {
                    tracing::error!(org = %org, kid = %key.kid, error = %e, "a stored SAML key cannot be used: SAML answers 503 until it is fixed or rotated away");
                    SamlSlot::Broken
                }
                None => SamlSlot::Absent,
            };
            keys.push(LoadedKey {
                signer,
                decoding,
                stored: key,
                saml,
            });
        }
        let list: Vec<_> = keys.iter().map(|k| k.stored.public_jwk.clone()).collect();
        let jwks_until = keys.iter().filter_map(|k| k.stored.expires_at).min();
        let loaded = Arc::new(LoadedKeys {
            keys,
            jwks: serde_json::json!({ "keys": list }).to_string().into(),
            jwks_until,
            loaded_at: self.clock.now(),
        });
        let mut map = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == started {
            map.insert(org, loaded.clone());
        }
        Ok(loaded)
    }

    async fn create(
        &self,
        org: OrgId,
        alg: SigningAlg,
        activates_at: DateTime<Utc>,
        first: bool,
        actor: &str,
    ) -> Result<KeyInfo, KeyError> {
        let der = tokio::task::spawn_blocking(move || {
            let der = generate(alg)?;
            // Never store a key this node could not sign with.
            Signer::new(alg, &der).map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok::<_, KeyError>(der)
        })
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))??;
        let kid = random_token(12).map_err(|e| KeyError::Generate(e.to_string()))?;
        let jwk = Jwk::from_encoding_key(&encoding_key(alg, &der), alg.jwt())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let mut public_jwk =
            serde_json::to_value(&jwk).map_err(|e| KeyError::Generate(e.to_string()))?;
        public_jwk["kid"] = serde_json::Value::String(kid.clone());
        public_jwk["use"] = serde_json::Value::String("sig".into());
        public_jwk["alg"] = serde_json::Value::String(alg.as_str().into());
        let now = self.clock.now();
        let key = StoredKey {
            encrypted_private_key: self.kek.seal(&aad(org, &kid), &der)?,
            kid,
            alg,
            public_jwk,
            created_at: now,
            activates_at,
            expires_at: None,
        };
        // Older keys stop signing when this one activates and stay published until every
        // token they signed has expired.
        // The first key retires nothing: the database refuses it when another is there.
        let retire_at =
            (!first).then(|| activates_at + Duration::seconds(MAX_SIGNED_TOKEN_TTL_SECS));
        self.store
            .insert_signing_key(org, &key, retire_at, actor, now)
            .await?;
        tracing::info!(org = %org, kid = %key.kid, alg = %alg, %activates_at, "signing key created");
        Ok(KeyInfo {
            kid: key.kid,
            alg,
            activates_at,
        })
    }

    /// Creates the org's next signing key (of `alg`, or the current key's algorithm), published
    /// now and signing from `now + publish_lead`.
    pub async fn rotate(
        &self,
        org: &Org,
        alg: Option<SigningAlg>,
        publish_lead: Duration,
    ) -> Result<KeyInfo, KeyError> {
        let now = self.clock.now();
        let keys = self.store.signing_keys(org.id, now).await?;
        let alg = alg
            .or_else(|| active(&keys, now).map(|k| k.alg))
            .unwrap_or(SigningAlg::Es256);
        let lead = if keys.is_empty() {
            Duration::zero()
        } else {
            publish_lead.max(Duration::zero())
        };
        let info = self
            .create(org.id, alg, now + lead, false, "rotation")
            .await?;
        self.keys_changed(org.id).await;
        Ok(info)
    }

    /// The published keys (the JWKS document).
    pub async fn jwks(&self, org: OrgId) -> Result<Arc<str>, KeyError> {
        let loaded = self.loaded(org).await?;
        let now = self.clock.now();
        if loaded.jwks_until.is_none_or(|until| now < until) {
            return Ok(loaded.jwks.clone());
        }
        // A key retired since these were read: published no more.
        let list: Vec<_> = loaded
            .keys
            .iter()
            .filter(|k| k.stored.expires_at.is_none_or(|e| e > now))
            .map(|k| k.stored.public_jwk.clone())
            .collect();
        Ok(serde_json::json!({ "keys": list }).to_string().into())
    }

    async fn keys_or_first(
        &self,
        org: OrgId,
    ) -> Result<Vec<(StoredKey, Option<StoredSamlKey>)>, KeyError> {
        let now = self.clock.now();
        let keys = self.store.signing_keys_with_saml(org, now).await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        match self
            .create(org, SigningAlg::Es256, now, true, "first_use")
            .await
        {
            // A parallel first use made the key: everyone uses that one.
            Ok(_) | Err(KeyError::Store(crate::store::StoreError::Conflict)) => {}
            Err(e) => return Err(e),
        }
        Ok(self.store.signing_keys_with_saml(org, now).await?)
    }

    fn open_saml(&self, org: OrgId, kid: &str, saml: &StoredSamlKey) -> Result<SamlKey, KeyError> {
        let pem = self
            .kek
            .open(&saml_aad(org, kid), &saml.encrypted_private_key)?;
        let pkcs8_pem = String::from_utf8(pem)
            .map_err(|_| KeyError::Encryption("a stored SAML key is not PEM".into()))?;
        let certificate_der = STANDARD
            .decode(&saml.certificate)
            .map_err(|_| KeyError::Encryption("a stored SAML certificate is not base64".into()))?;
        Ok(SamlKey {
            pkcs8_pem,
            certificate_der,
        })
    }

    /// The org's SAML keys: the one that signs now (the row of the JOSE key that signs now)
    /// and the certificates published now (every published row's). A row without its SAML key
    /// gets one first (`keys::saml`), and every node is told. A published row whose SAML key
    /// cannot be opened fails this (`KeyError::SamlKeyUnusable`, answered 503): metadata
    /// without that certificate would mislead SPs, and signing may need it.
    pub async fn saml_keys(&self, org: OrgId) -> Result<SamlKeys, KeyError> {
        let mut loaded = self.loaded(org).await?;
        if loaded
            .keys
            .iter()
            .any(|k| matches!(k.saml, SamlSlot::Absent))
        {
            self.make_saml_keys(org, &loaded).await?;
            self.keys_changed(org).await;
            loaded = self.loaded(org).await?;
        }
        let now = self.clock.now();
        let live = || loaded.keys.iter().filter(|k| k.published_at(now));
        if live().any(|k| matches!(k.saml, SamlSlot::Broken)) {
            return Err(KeyError::SamlKeyUnusable);
        }
        let stored: Vec<StoredKey> = loaded.keys.iter().map(|k| k.stored.clone()).collect();
        let kid = &active(&stored, now)
            .ok_or(KeyError::Sign("no active key".into()))?
            .kid;
        let signing = loaded
            .keys
            .iter()
            .find(|k| &k.stored.kid == kid)
            .and_then(|k| match &k.saml {
                SamlSlot::Ready(key) => Some(key.clone()),
                _ => None,
            })
            .ok_or(KeyError::Sign("no active SAML key".into()))?;
        let published = live()
            .filter_map(|k| match &k.saml {
                SamlSlot::Ready(key) => Some(key.certificate_der.clone()),
                _ => None,
            })
            .collect();
        Ok(SamlKeys { signing, published })
    }

    /// Makes and stores the SAML key of every loaded row without one (a row another node
    /// filled meanwhile keeps that node's).
    async fn make_saml_keys(&self, org: OrgId, loaded: &LoadedKeys) -> Result<(), KeyError> {
        let now = self.clock.now();
        for key in loaded
            .keys
            .iter()
            .filter(|k| matches!(k.saml, SamlSlot::Absent))
        {
            let kid = key.stored.kid.clone();
            let name = format!("Portcullis SAML {kid}");
            let made = tokio::task::spawn_blocking(move || super::saml::generate(&name, now))
                .await
                .map_err(|e| KeyError::Generate(e.to_string()))??;
            let stored = StoredSamlKey {
                encrypted_private_key: self
                    .kek
                    .seal(&saml_aad(org, &kid), made.pkcs8_pem.as_bytes())?,
                certificate: STANDARD.encode(&made.certificate_der),
            };
            if self.store.set_saml_key(org, &kid, &stored, now).await? {
                tracing::info!(org = %org, kid = %kid, "SAML signing certificate created");
            }
        }
        Ok(())
    }

    /// Signs `claims` with the org's active key; `typ` goes in the header (`JWT`, `at+jwt`).
    pub async fn sign<T: Serialize>(
        &self,
        org: OrgId,
        typ: &str,
        claims: &T,
    ) -> Result<(String, SigningAlg), KeyError> {
        let now = self.clock.now();
        let loaded = self.loaded(org).await?;
        let stored: Vec<StoredKey> = loaded.keys.iter().map(|k| k.stored.clone()).collect();
        let kid = active(&stored, now)
            .ok_or(KeyError::Sign("no active key".into()))?
            .kid
            .clone();
        let key = loaded
            .keys
            .iter()
            .find(|k| k.stored.kid == kid)
            .ok_or(KeyError::Sign("no active key".into()))?;
        let mut header = Header::new(key.stored.alg.jwt());
        header.kid = Some(kid);
        header.typ = Some(typ.to_owned());
        let token = super::jose::encode(&header, claims, &key.signer)?;
        Ok((token, key.stored.alg))
    }

    /// Verifies a token this org signed: a published key, its algorithm, the header type, and
    /// `exp` against our clock (not the wall clock: tests move time). Audience and the other
    /// claims are the caller's business.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        org: OrgId,
        token: &str,
        typ: &str,
    ) -> Result<T, KeyError> {
        let now = self.clock.now();
        let verified = self.verified_token(org, token, typ, now).await?;
        if now.timestamp() >= verified.exp {
            return Err(KeyError::InvalidToken);
        }
        verified.claims_as()
    }

    /// As `verify`, but an expired token is accepted: an `id_token_hint` at logout may be
    /// expired (RP-Initiated Logout 1.0 §2). Signature, key and type still must hold.
    pub async fn verify_allow_expired<T: DeserializeOwned>(
        &self,
        org: OrgId,
        token: &str,
        typ: &str,
    ) -> Result<T, KeyError> {
        let now = self.clock.now();
        self.verified_token(org, token, typ, now).await?.claims_as()
    }

    /// The token, if it has the type `typ` and is signed by a key of the org published at
    /// `now` (its expiry is the caller's to check). A token this node verified before is not
    /// checked again, but its key must still be published, as for a first check.
    async fn verified_token(
        &self,
        org: OrgId,
        token: &str,
        typ: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Verified>, KeyError> {
        let hash = crate::secrets::sha256_hex(token);
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned();
        if let Some(v) = known.filter(|v| v.org == org && v.typ.eq_ignore_ascii_case(typ)) {
            let loaded = self.loaded(org).await?;
            if !loaded
                .keys
                .iter()
                .any(|k| k.stored.kid == v.kid && k.published_at(now))
            {
                return Err(KeyError::InvalidToken);
            }
            return Ok(v);
        }
        let verified = Arc::new(self.check_signature(org, token, typ, now).await?);
        self.remember_verified(hash, verified.clone(), now);
        Ok(verified)
    }

    /// A first check of a token: its header's type and key id, a key of that id published at
    /// `now` with the header's algorithm, the signature, and an `exp` claim.
    async fn check_signature(
        &self,
        org: OrgId,
        token: &str,
        typ: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, KeyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| KeyError::InvalidToken)?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(KeyError::InvalidToken);
        }
        let kid = header.kid.ok_or(KeyError::InvalidToken)?;
        let loaded = self.keys_knowing(org, &kid, now).await?;
        let key = loaded
            .keys
            .iter()
            .find(|k| k.stored.kid == kid && k.published_at(now))
            .ok_or(KeyError::InvalidToken)?;
        let alg = key.stored.alg;
        if header.alg != alg.jwt() {
            return Err(KeyError::InvalidToken);
        }
        let mut validation = Validation::new(alg.jwt());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|_| KeyError::InvalidToken)?;
        let exp = data
            .claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or(KeyError::InvalidToken)?;
        Ok(Verified {
            org,
            typ: typ.to_owned(),
            kid,
            exp,
            claims: data.claims,
        })
    }

    /// The org's keys, read again when `kid` is not among them: maybe a key another node made
    /// since this node read them (a missed invalidation). At most once a second per org,
    /// whatever kids clients send.
    async fn keys_knowing(
        &self,
        org: OrgId,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<LoadedKeys>, KeyError> {
        let loaded = self.loaded(org).await?;
        if !loaded.keys.iter().any(|k| k.stored.kid == kid)
            && loaded.age(now) >= Duration::seconds(1)
        {
            return self.load(org).await;
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_binding() {
        let kek = KeyEncryptionKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = kek.seal("org:kid", b"private").unwrap();
        assert_eq!(kek.open("org:kid", &sealed).unwrap(), b"private");
        assert!(kek.open("org:other", &sealed).is_err());
        let other = KeyEncryptionKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("org:kid", &sealed).is_err());
        assert!(KeyEncryptionKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }

    #[test]
    fn both_algorithms_generate_keys_that_sign() {
        for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
            let der = generate(alg).unwrap();
            let key = encoding_key(alg, &der);
            let token = jsonwebtoken::encode(
                &Header::new(alg.jwt()),
                &serde_json::json!({"exp": 1}),
                &key,
            )
            .unwrap();
            assert_eq!(token.split('.').count(), 3);
            assert!(Jwk::from_encoding_key(&key, alg.jwt()).is_ok());
        }
    }
}
