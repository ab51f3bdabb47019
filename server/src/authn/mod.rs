//! Authentication: password sign-in with throttling, WebAuthn (passkeys, second factor,
//! step-up), and the hosted sign-in pages.

mod error;
pub mod routes;
mod service;
pub mod throttle;
pub mod waiting;
pub mod webauthn;
pub mod webauthn_routes;

pub use error::AuthnError;
pub use service::{LoginAttempt, LoginOutcome, LoginService, PasswordChange};
pub use throttle::Throttle;
