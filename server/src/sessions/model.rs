//! IdP session types.

use crate::accounts::UserId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub Uuid);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// When a second factor is asked for after the password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Never: the password alone signs in (passkeys still work on their own).
    Off,
    /// For users who have enrolled a security key or passkey.
    #[default]
    Optional,
    /// For everyone: users without a factor cannot finish signing in until they enrol one.
    Required,
    /// Only when the app the user is signing in to asks for it (acr/max-age from the OIDC
    /// request); otherwise as `optional`.
    AppRequested,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
            Self::AppRequested => "app_requested",
        }
    }

    /// Unknown stored values fail closed.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "off" => Self::Off,
            "optional" => Self::Optional,
            "app_requested" => Self::AppRequested,
            _ => Self::Required,
        }
    }

    /// Whether a user with (or without) an enrolled factor must present it after the password.
    pub fn requires_second_factor(self, has_factor: bool, app_requests_mfa: bool) -> bool {
        match self {
            Self::Off => app_requests_mfa,
            Self::Optional | Self::AppRequested => has_factor || app_requests_mfa,
            Self::Required => true,
        }
    }
}

impl FromStr for MfaPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            "app_requested" => Ok(Self::AppRequested),
            other => Err(format!(
                "unknown MFA policy {other:?} (off, optional, required, app_requested)"
            )),
        }
    }
}

/// An org's session policy. Defaults: 2 h idle, 12 h absolute, remember-me allowed for 30 days,
/// MFA optional (asked of users who enrolled a factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPolicy {
    pub idle_timeout_secs: i64,
    pub absolute_lifetime_secs: i64,
    pub remember_me_allowed: bool,
    pub remember_me_lifetime_secs: i64,
    #[serde(default)]
    pub mfa: MfaPolicy,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 2 * 3600,
            absolute_lifetime_secs: 12 * 3600,
            remember_me_allowed: true,
            remember_me_lifetime_secs: 30 * 24 * 3600,
            mfa: MfaPolicy::Optional,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session policy: {0}")]
pub struct InvalidPolicy(pub &'static str);

impl SessionPolicy {
    /// Lifetimes between one minute and one year; idle no longer than absolute.
    pub fn validate(self) -> Result<Self, InvalidPolicy> {
        const YEAR: i64 = 366 * 24 * 3600;
        let in_range = |v: i64| (60..=YEAR).contains(&v);
        if !in_range(self.idle_timeout_secs) {
            return Err(InvalidPolicy(
                "idle timeout must be between 60 seconds and one year",
            ));
        }
        if !in_range(self.absolute_lifetime_secs) {
            return Err(InvalidPolicy(
                "absolute lifetime must be between 60 seconds and one year",
            ));
        }
        if !in_range(self.remember_me_lifetime_secs) {
            return Err(InvalidPolicy(
                "remember-me lifetime must be between 60 seconds and one year",
            ));
        }
        if self.idle_timeout_secs > self.absolute_lifetime_secs {
            return Err(InvalidPolicy(
                "idle timeout must not exceed the absolute lifetime",
            ));
        }
        Ok(self)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::seconds(self.idle_timeout_secs)
    }

    /// How long a session may live from sign-in.
    pub fn lifetime(&self, remember_me: bool) -> Duration {
        Duration::seconds(if remember_me {
            self.remember_me_lifetime_secs
        } else {
            self.absolute_lifetime_secs
        })
    }
}

/// Why a session ended. Recorded on the session and in the audit trail; later issues notify
/// apps for every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user signed out of this session.
    Logout,
    IdleExpired,
    AbsoluteExpired,
    AdminRevoked,
    /// The user ended it from another session ("sign out" on the account page).
    SignedOutElsewhere,
    UserSignedOutEverywhere,
    PasswordChanged,
    UserDisabled,
    OrgDisabled,
    /// An admin removed the user's keys: sessions made with them must not go on.
    MfaReset,
    UserDeleted,
}

impl EndReason {
    /// Revocations end every app session of the IdP session, even those of standard apps that
    /// may outlive it; sign-out and expiry end only those that may not.
    pub fn ends_outliving_app_sessions(self) -> bool {
        !matches!(
            self,
            Self::Logout | Self::IdleExpired | Self::AbsoluteExpired
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::IdleExpired => "idle_expired",
            Self::AbsoluteExpired => "absolute_expired",
            Self::AdminRevoked => "admin_revoked",
            Self::SignedOutElsewhere => "signed_out_elsewhere",
            Self::UserSignedOutEverywhere => "user_signed_out_everywhere",
            Self::PasswordChanged => "password_changed",
            Self::UserDisabled => "user_disabled",
            Self::OrgDisabled => "org_disabled",
            Self::MfaReset => "mfa_reset",
            Self::UserDeleted => "user_deleted",
        }
    }
}

impl FromStr for EndReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [
            Self::Logout,
            Self::IdleExpired,
            Self::AbsoluteExpired,
            Self::AdminRevoked,
            Self::SignedOutElsewhere,
            Self::UserSignedOutEverywhere,
            Self::PasswordChanged,
            Self::UserDisabled,
            Self::OrgDisabled,
            Self::MfaReset,
            Self::UserDeleted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(())
    }
}

/// An IdP session as stored (the token itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub idle_deadline: DateTime<Utc>,
    pub absolute_expiry: DateTime<Utc>,
    pub remember_me: bool,
    /// When the user last authenticated (OIDC `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// When each factor was last proven (for `amr` and step-up).
    // (Absent fields are left out of the cached copy: a live session's copy stays under 1 KB
    // of Redis.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
}

/// Assurance levels a session can reach, lowest first (the OIDC `acr` values Portcullis issues).
pub const ACR_ONE_FACTOR: &str = "urn:portcullis:acr:1fa";
pub const ACR_TWO_FACTORS: &str = "urn:portcullis:acr:2fa";
pub const ACR_PHISHING_RESISTANT: &str = "urn:portcullis:acr:phr";

impl Session {
    /// The assurance level: one factor (a password), two factors (a password and a security key),
    /// or phishing-resistant (a passkey with user verification, which is bound to our origin and
    /// proves possession and the user's PIN or biometric at once).
    pub fn acr(&self) -> &'static str {
        match (self.password_at.is_some(), self.webauthn_at.is_some()) {
            (false, true) => ACR_PHISHING_RESISTANT,
            (true, true) => ACR_TWO_FACTORS,
            _ => ACR_ONE_FACTOR,
        }
    }

    /// Authentication method references (RFC 8176) proven in this session.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut amr = Vec::new();
        if self.password_at.is_some() {
            amr.push("pwd");
        }
        if self.webauthn_at.is_some() {
            // WebAuthn with a hardware-bound key and a user-presence test.
            amr.push("hwk");
            amr.push("user");
        }
        if self.password_at.is_some() && self.webauthn_at.is_some() {
            amr.push("mfa");
        }
        amr
    }
}

/// The cookie value: 256 random bits, base64url. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(pub String);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// What a successful authentication hands to `SessionService::start`.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: UserId,
    pub remember_me: bool,
    pub password_at: Option<DateTime<Utc>>,
    pub webauthn_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A short device description from a User-Agent ("Firefox on Linux").
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(needle, _)| ua.contains(needle))
    .map_or("Browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(password: bool, webauthn: bool) -> Session {
        let now = chrono::Utc::now();
        Session {
            id: SessionId(Uuid::nil()),
            org_id: OrgId(Uuid::nil()),
            user_id: UserId(Uuid::nil()),
            token_hash: String::new(),
            created_at: now,
            last_seen_at: now,
            idle_deadline: now,
            absolute_expiry: now,
            remember_me: false,
            auth_time: now,
            password_at: password.then_some(now),
            webauthn_at: webauthn.then_some(now),
            user_agent: None,
            ip: None,
            ended_at: None,
            end_reason: None,
        }
    }

    #[test]
    fn factors_give_amr_and_acr() {
        assert_eq!(session(true, false).amr(), vec!["pwd"]);
        assert_eq!(session(true, false).acr(), ACR_ONE_FACTOR);
        assert_eq!(session(true, true).amr(), vec!["pwd", "hwk", "user", "mfa"]);
        assert_eq!(session(true, true).acr(), ACR_TWO_FACTORS);
        assert_eq!(session(false, true).amr(), vec!["hwk", "user"]);
        assert_eq!(session(false, true).acr(), ACR_PHISHING_RESISTANT);
    }

    #[test]
    fn mfa_policy_decides_the_second_step() {
        assert!(!MfaPolicy::Off.requires_second_factor(true, false));
        assert!(MfaPolicy::Off.requires_second_factor(false, true));
        assert!(MfaPolicy::Optional.requires_second_factor(true, false));
        assert!(!MfaPolicy::Optional.requires_second_factor(false, false));
        assert!(MfaPolicy::Required.requires_second_factor(false, false));
        assert!(MfaPolicy::AppRequested.requires_second_factor(false, true));
        assert_eq!(
            MfaPolicy::from_db("garbage"),
            MfaPolicy::Required,
            "fail closed"
        );
    }

    #[test]
    fn devices_are_named() {
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device_name(Some(ff)), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        assert_eq!(device_name(Some(chrome)), "Chrome on Windows");
        assert_eq!(device_name(None), "Unknown device");
    }
}
