//! Errors of org management and resolution.

use super::model::{InvalidSlug, OrgSlug};

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error(transparent)]
    InvalidSlug(#[from] InvalidSlug),
    #[error("org name must be 1-200 characters")]
    InvalidName,
    #[error("invalid branding: {0}")]
    InvalidBranding(&'static str),
    #[error("an org with slug {0:?} already exists")]
    SlugTaken(String),
    #[error("no org with slug {0:?}")]
    NotFound(String),
    #[error("org {0} is disabled")]
    Disabled(OrgSlug),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Session(#[from] crate::sessions::SessionError),
}
