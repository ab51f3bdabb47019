//! IdP sessions: created after every required factor is proven, carried by an org-scoped cookie,
//! durable in the database and fast through the cache, ended with a recorded reason.

mod error;
mod model;
mod service;

pub use error::SessionError;
pub use model::{
    ACR_ONE_FACTOR, ACR_PHISHING_RESISTANT, ACR_TWO_FACTORS, EndReason, InvalidPolicy, MfaPolicy,
    NewSession, Session, SessionId, SessionPolicy, SessionToken, device_name,
};
pub(crate) use service::user_copy_key;
pub use service::{SessionService, TOUCH_INTERVAL_SECS};
