//! The org export file (format `portcullis-org-export`, version 1): what it holds, as JSON.
//!
//! Ids (UUIDs) are kept, so every reference inside the file (a credential's user, a consent's
//! app) and outside it (an app's `sub` values, a SAML persistent NameID, the associated data of a
//! sealed signing key) stays valid. Secrets appear only as what the database holds: argon2id PHC
//! strings, SHA-256 hashes of client secrets and recovery codes, signing keys sealed for the
//! target deployment (never in the clear).

use crate::apps::{AppSettings, AppType, SamlSettings, SessionProfile};
use crate::email::TemplateKind;
use crate::keys::SigningAlg;
use crate::sessions::SessionPolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `format` member of every export file.
pub const FORMAT: &str = "portcullis-org-export";
/// The version this build writes and the only one it reads.
pub const VERSION: u64 = 1;

/// One org, ready to move to another deployment (or back into this one after a loss).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgExport {
    pub format: String,
    pub version: u64,
    pub exported_at: DateTime<Utc>,
    /// The issuer the org had where it was exported (for the operator; not used on import).
    pub source_issuer: String,
    pub org: OrgRecord,
    /// `None`: the org used the default policy.
    pub session_policy: Option<SessionPolicy>,
    pub apps: Vec<AppRecord>,
    pub users: Vec<UserRecord>,
    pub consents: Vec<ConsentRecord>,
    pub email_templates: Vec<TemplateRecord>,
    /// Present only with `--with-keys`: the published signing keys, sealed for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_keys: Option<Vec<KeyRecord>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgRecord {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub logo_url: Option<String>,
    pub accent_color: Option<String>,
    /// `off`, `open` or `invite_only`.
    pub signup_mode: String,
    pub require_verified_email: bool,
}

/// An app (OIDC client or SAML service provider) with its registration as the admin API sets
/// it, plus the hash of its client secret (so the app keeps its credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRecord {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub app_type: AppType,
    /// SHA-256 (hex) of the client secret; `None` for public and SAML apps.
    pub client_secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub session_profile: SessionProfile,
    pub admin: bool,
    pub settings: AppSettings,
    pub saml: Option<SamlSettings>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    /// The argon2id PHC string; `None` for a user who never set a password (invitee, passkey
    /// only).
    pub password_hash: Option<String>,
    /// `member` or `admin`.
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub webauthn_credentials: Vec<CredentialRecord>,
    pub recovery_codes: Vec<RecoveryCodeRecord>,
}

/// A passkey or security key: webauthn-rs's own record (public key, counter, flags).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRecord {
    pub id: Uuid,
    pub credential_id: String,
    /// `passkey` or `security_key`.
    pub kind: String,
    pub name: String,
    /// webauthn-rs's `Passkey` / `SecurityKey` as JSON (with the signature counter).
    pub credential: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodeRecord {
    pub id: Uuid,
    /// SHA-256 (hex) of `user_id:code`.
    pub code_hash: String,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A user's consent to a third-party app's scopes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub app_id: Uuid,
    pub scope: String,
    pub granted_at: DateTime<Utc>,
}

/// One of the org's own email templates (kinds without one use the built-in template).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRecord {
    pub kind: TemplateKind,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub updated_at: DateTime<Utc>,
}

/// A published signing key. The private halves are sealed (AES-256-GCM) with the *target*
/// deployment's `keys.encryption_key`, associated data `org:kid` (and `org:kid:saml`), exactly
/// as the target stores them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: Uuid,
    pub kid: String,
    pub alg: SigningAlg,
    pub public_jwk: serde_json::Value,
    pub private_key: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub saml_private_key: Option<String>,
    pub saml_certificate: Option<String>,
}

/// What an import writes, every value checked by the service (`export::service`): the store
/// writes it in one transaction.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub org: crate::tenancy::Org,
    pub session_policy: Option<SessionPolicy>,
    /// Each app's id, creation time and checked registration (client id and secret hash set).
    pub apps: Vec<(Uuid, DateTime<Utc>, crate::apps::NewApp)>,
    /// Checked: normalised email and name, PHC string, credentials and codes.
    pub users: Vec<UserRecord>,
    pub consents: Vec<ConsentRecord>,
    pub email_templates: Vec<TemplateRecord>,
    pub signing_keys: Vec<KeyRecord>,
}

/// How many rows of each kind an import wrote (or an export read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub apps: usize,
    pub users: usize,
    pub webauthn_credentials: usize,
    pub recovery_codes: usize,
    pub consents: usize,
    pub email_templates: usize,
    pub signing_keys: usize,
}

impl OrgExport {
    pub fn counts(&self) -> Counts {
        Counts {
            apps: self.apps.len(),
            users: self.users.len(),
            webauthn_credentials: self
                .users
                .iter()
                .map(|u| u.webauthn_credentials.len())
                .sum(),
            recovery_codes: self.users.iter().map(|u| u.recovery_codes.len()).sum(),
            consents: self.consents.len(),
            email_templates: self.email_templates.len(),
            signing_keys: self.signing_keys.as_ref().map_or(0, Vec::len),
        }
    }
}
