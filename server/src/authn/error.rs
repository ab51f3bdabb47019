//! Errors of authentication flows (not outcomes: a wrong password is an outcome, not an error).

#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Hash(#[from] crate::accounts::password::HashError),
    #[error(transparent)]
    Session(#[from] crate::sessions::SessionError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    InvalidPassword(#[from] crate::accounts::InvalidPassword),
    #[error("could not record the first sign-in step: {0}")]
    Pending(String),
}
