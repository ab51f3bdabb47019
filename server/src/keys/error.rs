//! Errors of signing keys and token verification.

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("signing key encryption: {0}")]
    Encryption(String),
    #[error("signing failed: {0}")]
    Sign(String),
    /// A token that does not verify: bad signature, unknown key, wrong type, expired.
    #[error("invalid token")]
    InvalidToken,
    /// A published key row's SAML key is stored but cannot be opened (a wrong key encryption
    /// key, a damaged row): SAML cannot sign or publish until it is fixed or rotated away.
    #[error("a stored SAML signing key cannot be used")]
    SamlKeyUnusable,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
