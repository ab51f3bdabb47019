//! Errors of account management.

use super::model::{InvalidEmail, InvalidPassword};
use super::password::HashError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    #[error(transparent)]
    InvalidPassword(#[from] InvalidPassword),
    #[error("name must be at most 200 characters")]
    InvalidName,
    #[error("a user with email {0} already exists in this org")]
    EmailTaken(String),
    #[error("the new address is the current one")]
    SameEmail,
    #[error("no user with email {0} in this org")]
    UnknownUser(String),
    #[error("the org's invitation quota ({0} per hour) is used up; try again within the hour")]
    InvitationQuota(i64),
    #[error(transparent)]
    Session(#[from] crate::sessions::SessionError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<super::model::NameTooLong> for AccountError {
    fn from(_: super::model::NameTooLong) -> Self {
        Self::InvalidName
    }
}
