//! Single Logout: the back-channel delivery worker over the logout outbox (logout tokens per
//! OIDC Back-Channel Logout 1.0; SAML LogoutRequests over SOAP, built by `saml::slo`),
//! RP-initiated logout and front-channel logout pages.

mod model;
pub mod routes;
mod service;

pub use model::{
    Attempt, FRONT_CHANNEL_WINDOW_SECS, LogoutDelivery, STATUS_DELIVERED, STATUS_FAILED,
    STATUS_PENDING, TestLogout, TestLogoutError,
};
pub use service::{
    DELIVERY_LEASE_SECS, EndSessionDecision, EndSessionParams, LOGOUT_EVENT, PER_APP_IN_FLIGHT,
    SloService,
};
