//! Org (tenant) types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The slug of the platform org that holds the operators; created at first start.
pub const PLATFORM_ORG_SLUG: &str = "system";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrgId(pub Uuid);

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An org's URL name: 1–63 characters of `a-z`, `0-9` and inner `-` (a DNS label, so it can
/// later become a subdomain too).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrgSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid org slug {0:?}: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
)]
pub struct InvalidSlug(pub String);

impl OrgSlug {
    pub fn parse(raw: &str) -> Result<Self, InvalidSlug> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidSlug(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgStatus {
    Active,
    Disabled,
}

impl OrgStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Unknown values read from the database count as disabled: fail closed.
    pub fn from_db(raw: &str) -> Self {
        if raw == "active" {
            Self::Active
        } else {
            Self::Disabled
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: OrgId,
    pub slug: OrgSlug,
    pub name: String,
    pub status: OrgStatus,
    pub created_at: DateTime<Utc>,
    pub branding: Branding,
    #[serde(default)]
    pub signup: SignupPolicy,
}

/// Who may create an account on the org's hosted pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// No sign-up page: admins create accounts (with a password or an invitation).
    #[default]
    Off,
    /// Anyone may sign up; the address is verified by a link.
    Open,
    /// The sign-up page only says to ask for an invitation; invitations are the way in.
    InviteOnly,
}

impl SignupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Open => "open",
            Self::InviteOnly => "invite_only",
        }
    }

    /// Unknown values read from the database mean no sign-up: fail closed.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "open" => Self::Open,
            "invite_only" => Self::InviteOnly,
            _ => Self::Off,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "off" => Some(Self::Off),
            "open" => Some(Self::Open),
            "invite_only" | "invite-only" => Some(Self::InviteOnly),
            _ => None,
        }
    }
}

impl std::str::FromStr for SignupMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("{s:?}: expected off, open or invite_only"))
    }
}

/// The org's sign-up rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignupPolicy {
    pub mode: SignupMode,
    /// Users whose address is not verified cannot sign in (they are told to use the link
    /// we sent). Unverified users never get password reset links, whatever this says.
    pub require_verified_email: bool,
}

impl Default for SignupPolicy {
    fn default() -> Self {
        Self {
            mode: SignupMode::Off,
            require_verified_email: true,
        }
    }
}

/// What the hosted pages show of an org besides its name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    /// An https image URL (checked when set).
    pub logo_url: Option<String>,
    /// `#rrggbb` (checked when set).
    pub accent_color: Option<String>,
}

/// An accent colour the hosted pages and emails will use: `#rrggbb` and nothing else, so it can
/// stand in CSS and HTML unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccentColour(String);

impl AccentColour {
    /// The hosted pages' own accent, for an org without a (valid) one.
    pub const DEFAULT: &'static str = "#2f5bd3";

    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].chars().all(|c| c.is_ascii_hexdigit());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Branding {
    /// The org's accent colour when it is a valid one, else the default.
    pub fn accent(&self) -> AccentColour {
        self.accent_color
            .as_deref()
            .and_then(AccentColour::parse)
            .unwrap_or_else(|| AccentColour(AccentColour::DEFAULT.to_owned()))
    }
}

impl Org {
    /// The org's OIDC issuer: `{public_url}/o/{slug}`.
    pub fn issuer(&self, public_url: &str) -> String {
        format!("{}/o/{}", public_url.trim_end_matches('/'), self.slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        for good in ["acme", "a", "acme-2", "0x"] {
            assert!(OrgSlug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "acme/x",
            &"a".repeat(64),
        ] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_six_digit_hex_colours_are_accents() {
        assert!(AccentColour::parse("#a0B1c2").is_some());
        for bad in ["", "a0b1c2", "#a0b1c", "#a0b1c2d", "#g0b1c2", "red;}"] {
            assert!(AccentColour::parse(bad).is_none(), "{bad}");
        }
        let mut b = Branding::default();
        assert_eq!(b.accent().as_str(), AccentColour::DEFAULT);
        b.accent_color = Some("#00ff00".into());
        assert_eq!(b.accent().as_str(), "#00ff00");
        b.accent_color = Some("</style>".into());
        assert_eq!(b.accent().as_str(), AccentColour::DEFAULT);
    }
}
