//! Accounts: users of an org and their passwords.

mod error;
pub mod links;
mod model;
pub mod password;
pub mod routes;
mod service;

pub use error::AccountError;
pub use model::{
    EmailAddress, InvalidEmail, InvalidPassword, NewUser, Password, Role, User, UserId,
};
pub use password::PasswordHasher;
pub use service::{
    AccountService, CreateUser, INVITATION_TTL_DAYS, InvitationSlot, PASSWORD_RESET_TTL_MINUTES,
    ResetOutcome, SignUp, VERIFY_ATTEMPTS_PER_LINK, VERIFY_TTL_HOURS,
};
