//! Single Logout: the back-channel delivery worker over the logout outbox (logout tokens per
//! OIDC Back-Channel Logout 1.0), RP-initiated logout and front-channel logout pages.

mod model;
pub mod routes;
mod service;

pub use model::{
    Attempt, LogoutDelivery, STATUS_DELIVERED, STATUS_FAILED, STATUS_PENDING, TestLogout,
    TestLogoutError,
};
pub use service::{
    DELIVERY_LEASE_SECS, EndSessionDecision, EndSessionParams, LOGOUT_EVENT, PER_APP_IN_FLIGHT,
    SloService,
};
