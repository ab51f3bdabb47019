//! What an email is: the kinds of message, a template, a message to send and an outbox row.

use crate::tenancy::OrgId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of message Portcullis sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    PasswordReset,
    Invitation,
    VerifyEmail,
    EmailChange,
    /// Sent instead of a verification link when someone signs up with an address that
    /// already has an account (the page answers the same either way).
    SignupExisting,
    /// Security notices: password changed, key added or removed, new device, email changed.
    Notice,
}

impl TemplateKind {
    pub const ALL: [Self; 6] = [
        Self::PasswordReset,
        Self::Invitation,
        Self::VerifyEmail,
        Self::EmailChange,
        Self::SignupExisting,
        Self::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
            Self::VerifyEmail => "verify_email",
            Self::EmailChange => "email_change",
            Self::SignupExisting => "signup_existing",
            Self::Notice => "notice",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The placeholders a template of this kind may use.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Self::Notice => &["org_name", "accent_color", "email", "subject", "message"],
            _ => &["org_name", "accent_color", "email", "link", "valid_for"],
        }
    }

    /// Whether the text and HTML parts must carry `{{link}}`.
    pub fn needs_link(self) -> bool {
        self != Self::Notice
    }
}

/// A subject, a text part and an HTML part (the HTML is the body inside the branded frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Template {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A message to send: one recipient address (never a display name a user typed, so nothing
/// can be smuggled into headers), a subject, and text and HTML bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// An outbox row.
#[derive(Debug, Clone)]
pub struct QueuedEmail {
    pub id: Uuid,
    pub org_id: OrgId,
    pub email: OutgoingEmail,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}
