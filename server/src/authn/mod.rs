//! Authentication: password sign-in with throttling (WebAuthn arrives with its own issue), the
//! hosted sign-in and sign-out pages.

mod error;
pub mod routes;
mod service;
pub mod throttle;
pub mod waiting;
pub mod webauthn;

pub use error::AuthnError;
pub use service::{LoginAttempt, LoginOutcome, LoginService, PasswordChange};
pub use throttle::Throttle;
