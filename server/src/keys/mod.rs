//! Per-org token signing keys: generation (ES256 default, RS256), encryption at rest, rotation
//! with overlap, the JWKS, and signing and verifying JWTs with them; beside each, the org's
//! SAML signing key and certificate (`saml.rs`); re-sealing keys for another deployment
//! (`transfer.rs`, org export `--with-keys`).

mod error;
mod jose;
mod model;
pub mod saml;
mod service;
mod transfer;

pub use error::KeyError;
pub use model::{KeyInfo, SigningAlg, StoredKey, StoredSamlKey};
pub use service::{KeyEncryptionKey, KeyService, SamlKeys};

/// The longest publish lead a rotation may ask for (a year): larger values are refused rather
/// than overflowing the date arithmetic.
pub const MAX_PUBLISH_LEAD_SECS: i64 = 366 * 86_400;
