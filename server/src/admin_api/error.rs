//! Errors of the admin API; mapped to RFC 9457 problems at the edge.

use portcullis_api_types::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token, or one that does not verify (401 with a Bearer challenge).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token that may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Bad input; each error names its field (422).
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    /// The database or the cache is away (503 with `Retry-After`): never a verdict on the
    /// token or the request.
    #[error("{0}")]
    Unavailable(String),
    /// A quota is used up (429 with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// A failure of ours, by kind: an outage of the database or the cache
    /// (`crate::store::is_outage`) is `Unavailable` (503), anything else `Internal` (500).
    pub fn internal<E: std::error::Error + 'static>(err: E) -> Self {
        if crate::store::is_outage(&err) {
            tracing::warn!(error = %err, "admin API request failed: database or cache unavailable");
            Self::Unavailable(
                "the service is temporarily unavailable; try again in a moment".into(),
            )
        } else {
            tracing::error!(error = %err, "admin API request failed");
            Self::Internal("internal error; try again".into())
        }
    }

    /// Account errors a request may cause; anything else is internal.
    pub fn invitation(err: crate::accounts::AccountError) -> Self {
        match err {
            e @ crate::accounts::AccountError::InvitationQuota(_) => Self::TooManyRequests {
                message: e.to_string(),
                // The quota's window is an hour from its first invitation: at most that.
                retry_after_secs: 3600,
            },
            e => Self::internal(e),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }
}
