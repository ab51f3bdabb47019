//! OAuth 2.0 / OIDC protocol errors: `Display` of the code is the RFC error code.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    ConsentRequired,
    /// The requested assurance cannot be met for this user (OpenID Connect Unmet
    /// Authentication Requirements 1.0).
    UnmetAuthenticationRequirements,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    /// A DPoP proof is missing or not valid (RFC 9449 §5, §7.1).
    InvalidDpopProof,
    /// The DPoP proof needs a nonce of ours (RFC 9449 §8, §9); the answer carries `DPoP-Nonce`.
    UseDpopNonce,
    /// RFC 8628 §3.5: the user has not answered the device request yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polled before the interval passed (the interval grows by 5 s).
    SlowDown,
    /// RFC 8628 §3.5: the device code has expired.
    ExpiredToken,
    ServerError,
    TemporarilyUnavailable,
}

impl OidcErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for OidcErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error with a human-readable description (never secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OidcError {
    pub code: OidcErrorCode,
    pub description: String,
}

impl OidcError {
    pub fn new(code: OidcErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// A failure of ours, sorted by kind: an outage of the database or the cache
    /// (`crate::store::is_outage`) is `temporarily_unavailable` (503 with `Retry-After` at the
    /// edge), anything else `server_error` (500). Logged with its detail either way; never an
    /// answer that blames the token or the request.
    pub fn server<E: std::error::Error + 'static>(err: E) -> Self {
        if crate::store::is_outage(&err) {
            tracing::warn!(error = %err, "oidc request failed: database or cache unavailable");
            Self::unavailable()
        } else {
            tracing::error!(error = %err, "oidc request failed");
            Self::new(OidcErrorCode::ServerError, "internal error; try again")
        }
    }

    /// `temporarily_unavailable`: the database or the cache is away.
    pub fn unavailable() -> Self {
        Self::new(
            OidcErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; try again in a moment",
        )
    }

    pub fn is_failure(&self) -> bool {
        matches!(
            self.code,
            OidcErrorCode::ServerError | OidcErrorCode::TemporarilyUnavailable
        )
    }
}
