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
    /// A quota is used up (429 with `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
}

impl ApiError {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "admin API request failed");
        Self::Internal("internal error; try again".into())
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
