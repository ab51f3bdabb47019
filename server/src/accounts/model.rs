//! User types.

use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, trimmed and lower-cased so one mailbox is one account per org.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid email address {0:?}")]
pub struct InvalidEmail(pub String);

impl EmailAddress {
    /// A pragmatic check (RFC 5321 lengths, one `@`, a dotted domain, no spaces); the real proof
    /// of an address is the verification mail of a later issue.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let value = raw.trim().to_lowercase();
        let bad = || InvalidEmail(raw.to_owned());
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && value.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(Self(value)) } else { Err(bad()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    /// Unknown values read from the database grant nothing: fail closed.
    pub fn from_db(raw: &str) -> Self {
        if raw == "admin" {
            Self::Admin
        } else {
            Self::Member
        }
    }
}

/// A plaintext password on its way to the hasher. `Debug` redacts it.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    #[error("password is too short: use at least {0} characters")]
    TooShort(usize),
    #[error("password is too long: use at most {0} characters")]
    TooLong(usize),
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, InvalidPassword> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(InvalidPassword::TooShort(Self::MIN_CHARS));
        }
        if n > Self::MAX_CHARS {
            return Err(InvalidPassword::TooLong(Self::MAX_CHARS));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password typed at sign-in: only the upper bound applies (a too-short one simply fails
    /// verification, after the same work as any other).
    pub fn for_verification(raw: &str) -> Result<Self, InvalidPassword> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(InvalidPassword::TooLong(Self::MAX_CHARS));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// When the user proved they read mail at `email` (a link we sent was used), or when an
    /// admin created them with a password; `None` until then.
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// What the store needs to insert a user; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub role: Role,
    /// Admin-created users with a password count as verified; sign-ups and invitees do not
    /// until they use a link sent to the address.
    pub email_verified: bool,
}

/// A person's name as pages and the admin API show it: trimmed, at most
/// `DisplayName::MAX_CHARS` characters. A blank name is no name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// A name over `DisplayName::MAX_CHARS` characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("name must be at most 200 characters")]
pub struct NameTooLong;

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    /// `None` for a blank name.
    pub fn parse(raw: &str) -> Result<Option<Self>, NameTooLong> {
        let name = raw.trim();
        if name.chars().count() > Self::MAX_CHARS {
            return Err(NameTooLong);
        }
        Ok((!name.is_empty()).then(|| Self(name.to_owned())))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What an emailed link is for. A newer link voids the user's older ones of the same purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    PasswordReset,
    Invitation,
    VerifyEmail,
    EmailChange,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
            Self::VerifyEmail => "verify_email",
            Self::EmailChange => "email_change",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@c..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert!(Password::parse("short").is_err());
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn display_names_are_trimmed_bounded_and_blank_is_none() {
        assert_eq!(
            DisplayName::parse("  Ada  ")
                .unwrap()
                .unwrap()
                .into_string(),
            "Ada"
        );
        assert_eq!(DisplayName::parse("   ").unwrap(), None);
        assert!(DisplayName::parse(&"é".repeat(200)).unwrap().is_some());
        assert_eq!(DisplayName::parse(&"é".repeat(201)), Err(NameTooLong));
    }
}
