//! Device authorization grant (RFC 8628) types: the stored grant, its polling outcome, and the
//! user code (8 letters from an alphabet without vowels or look-alikes, shown as `XXXX-XXXX`,
//! read back case-insensitively and without its dash). Both codes are stored as SHA-256
//! hashes only (`store/device.rs`).

use crate::accounts::UserId;
use crate::apps::AppId;
use crate::secrets::{RandomError, random_chars, sha256_hex};
use crate::sessions::SessionId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How long a device code and its user code can be used (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_CODE_TTL_SECS: i64 = 600;
/// The polling interval a device starts with (RFC 8628 §3.2 `interval`).
pub const POLL_INTERVAL_SECS: i64 = 5;
/// What each `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP_SECS: i64 = 5;
/// The interval grows no further than this.
pub const MAX_POLL_INTERVAL_SECS: i64 = 60;
/// Consonants without the look-alikes of digits or each other: no vowels (no words), no I/O/U/Y.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 ≈ 2^34.6 codes: guessing is throttled per client and user (`limits.rs`), and a code
/// lives 10 minutes.
const USER_CODE_LEN: usize = 8;

/// Where a grant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved it; the next poll on time gets the tokens.
    Approved,
    /// The user denied it.
    Denied,
    /// Its tokens were issued (once).
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    /// Unknown values read from the database are denied: fail closed.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "redeemed" => Self::Redeemed,
            _ => Self::Denied,
        }
    }
}

/// A new grant, as `/device_authorization` stores it.
#[derive(Debug, Clone)]
pub struct NewDeviceGrant {
    pub id: Uuid,
    pub org_id: OrgId,
    pub app_id: AppId,
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub scope: String,
    pub interval_secs: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Who approved a grant, from which IdP session, and how that session signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub auth_time: DateTime<Utc>,
    pub acr: String,
    pub amr: Vec<String>,
}

/// A stored grant (never its codes).
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub id: Uuid,
    pub org_id: OrgId,
    pub app_id: AppId,
    /// The SHA-256 of the device code: what the app session it starts records, so a device
    /// code starts at most one app session (the unique index of authorization codes).
    pub device_code_hash: String,
    pub scope: String,
    pub status: DeviceStatus,
    pub interval_secs: i64,
    pub polls: i64,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub approval: Option<DeviceApproval>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What one poll of the token endpoint found (`Store::poll_device_grant`).
#[derive(Debug, Clone)]
pub enum DevicePoll {
    /// No such device code for this app in this org.
    Unknown,
    /// Past its lifetime.
    Expired,
    /// Polled before its interval had passed; the interval is now `interval_secs`.
    SlowDown {
        interval_secs: i64,
    },
    Pending,
    Denied,
    /// Its tokens were issued before.
    AlreadyRedeemed,
    /// Approved, and this poll (alone) redeemed it: issue the tokens.
    Approved(Box<DeviceGrant>),
}

/// A fresh user code, unformatted (8 letters).
pub fn new_user_code() -> Result<String, RandomError> {
    random_chars(USER_CODE_ALPHABET, USER_CODE_LEN)
}

/// A user code as people read it: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// What the user typed, as the code it may be: upper case, without dashes and spaces; `None`
/// when it cannot be a user code of ours (wrong length or letters).
pub fn normalise_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ours = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ours.then_some(code)
}

/// The stored hash of a (normalised) user code.
pub fn user_code_hash(code: &str) -> String {
    sha256_hex(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_unambiguous_letters() {
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            assert_eq!(normalise_user_code(&code).as_deref(), Some(code.as_str()));
        }
        assert_ne!(new_user_code().unwrap(), new_user_code().unwrap());
    }

    #[test]
    fn user_codes_are_read_back_loosely_but_only_ours() {
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        for typed in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            " bcdfghjk ",
            "BCDF GHJK",
            "bCdF-gHjK",
        ] {
            assert_eq!(
                normalise_user_code(typed).as_deref(),
                Some("BCDFGHJK"),
                "{typed}"
            );
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "BCDF_GHJK",
            "ßCDF-GHJK",
        ] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
    }
}
