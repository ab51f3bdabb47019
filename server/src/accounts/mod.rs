//! Accounts: users of an org and their passwords.

mod error;
pub mod link_routes;
mod model;
pub mod password;
pub mod routes;
mod service;

/// The emailed links (stored by the store, read through `AccountService`).
pub use crate::store::EmailLink;
pub use error::AccountError;
pub use model::{
    DisplayName, EmailAddress, InvalidEmail, InvalidPassword, LinkPurpose, NameTooLong, NewUser,
    Password, Role, User, UserId,
};
pub use password::PasswordHasher;
pub use service::{
    AccountService, CreateUser, INVITATION_TTL_DAYS, InvitationSlot, PASSWORD_RESET_TTL_MINUTES,
    ResetOutcome, SIGNUPS_PER_IP_PER_HOUR, SignUp, VERIFY_ATTEMPTS_PER_LINK, VERIFY_TTL_HOURS,
};
