//! OIDC types: app sessions, authorization codes and the decisions of /authorize.

use crate::accounts::UserId;
use crate::apps::AppId;
use crate::sessions::SessionId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppSessionId(pub Uuid);

impl std::fmt::Display for AppSessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The IdP's record of one app's session for one IdP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSession {
    pub id: AppSessionId,
    pub org_id: OrgId,
    pub app_id: AppId,
    /// The IdP session (`sid`).
    pub session_id: SessionId,
    pub user_id: UserId,
    pub scope: String,
    pub auth_time: DateTime<Utc>,
    pub acr: String,
    pub amr: Vec<String>,
    pub outlives_idp_session: bool,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub idle_deadline: Option<DateTime<Utc>>,
    pub absolute_expiry: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// The JWK thumbprint (RFC 7638) of the DPoP key its tokens are bound to (RFC 9449), set
    /// at the code exchange and never changed; `None`: unbound.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// A stored refresh token (by hash).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub id: Uuid,
    pub app_session_id: AppSessionId,
    pub scope: String,
    pub used_at: Option<DateTime<Utc>>,
}

/// What an authorization code stands for; kept in the cache under the code's hash for at most
/// 60 s and taken atomically (single use).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub app_id: AppId,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub acr: String,
    pub amr: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// The /authorize query, as received (or as pushed to /par and kept until used).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// What /authorize does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeDecision {
    /// The client or redirect URI is not valid: an error page, never a redirect (RFC 6749
    /// §4.1.2.1).
    ErrorPage { title: String, message: String },
    /// The request could not be decided before its redirect URI was checked: the database or
    /// cache is away (`outage`: 503 with `Retry-After`) or a bug (500).
    Failed { outage: bool },
    /// An error sent back to the (validated) redirect URI.
    RedirectError {
        redirect_uri: String,
        error: String,
        description: String,
        state: Option<String>,
        /// The request asked for `response_mode=form_post` (its own parameters, or the pushed
        /// ones).
        form_post: bool,
    },
    /// Sign in first (`reauth`: even though a session exists).
    Login {
        reauth: bool,
        login_hint: Option<String>,
    },
    /// Prove a second factor on the existing session.
    StepUp,
    /// A third-party app asks for scopes the user has not granted it yet.
    Consent {
        app_name: String,
        scopes: Vec<String>,
    },
    /// A pushed request was just used for the first time: the browser goes on to /authorize
    /// with a new, longer-lived reference to it (for the sign-in and consent steps), the one the
    /// app pushed being used up.
    Continue {
        client_id: String,
        request_uri: String,
    },
    /// Success: the code goes back to the app.
    IssueCode {
        redirect_uri: String,
        code: String,
        state: Option<String>,
        form_post: bool,
    },
}
