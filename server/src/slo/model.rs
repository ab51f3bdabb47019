//! Logout delivery types.

use crate::accounts::UserId;
use crate::apps::AppId;
use crate::sessions::SessionId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_DELIVERED: &str = "delivered";
pub const STATUS_FAILED: &str = "failed";

/// How long a front-channel (SAML Redirect or POST) logout waits for the user's browser to
/// carry its LogoutRequest and bring back the SP's LogoutResponse; then the outbox marks it
/// failed (a session that ended without a browser, by expiry or revocation, cannot reach such
/// an SP at all, and its delivery says so).
pub const FRONT_CHANNEL_WINDOW_SECS: i64 = 600;

/// One back-channel logout notification to one app for one IdP session (an outbox row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoutDelivery {
    pub id: Uuid,
    pub org_id: OrgId,
    pub app_id: AppId,
    /// The IdP session (`sid` of the logout token).
    pub session_id: SessionId,
    /// Its user (`sub`).
    pub user_id: UserId,
    /// Why the session ended (the IdP session's end reason).
    pub reason: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made, counted when each starts (the row is claimed for it).
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// A worker's lease on the row while it attempts a delivery (None when no one holds it).
    pub claimed_until: Option<DateTime<Utc>>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Retry later (429, 5xx, timeout, connection refused).
    Retry(String),
    /// Never retried (4xx other than 429, no URI any more).
    Permanent(String),
}

/// What an app's back-channel receiver said to a test logout token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLogout {
    /// The `sid` of the test token (it names no session).
    pub sid: String,
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// Its HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why it is not delivered (an HTTP status, or a connection failure; one generic error for
    /// targets the deployment may not reach).
    pub error: Option<String>,
}

/// Why no test logout token was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestLogoutError {
    #[error("the app has no back-channel logout URI")]
    NoUri,
    #[error("the token could not be signed: {0}")]
    Failure(String),
}
