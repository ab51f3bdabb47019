//! Errors of session management.

use super::model::InvalidPolicy;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    InvalidPolicy(#[from] InvalidPolicy),
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
