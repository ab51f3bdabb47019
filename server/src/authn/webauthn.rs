//! WebAuthn with webauthn-rs: enrolling passkeys and security keys, passwordless sign-in with a
//! passkey, and a security key or passkey as second factor after the password.
//!
//! Ceremony state and pending sign-in steps live in the database (`Store::put_single_use`), under
//! the hash of a random id, so a ceremony started on one node finishes on another and neither
//! depends on the cache being reachable. Ceremony state lasts five minutes and is taken
//! atomically: a replayed answer finds no state, an answer to another flow's challenge fails
//! webauthn-rs's challenge check, and an expired flow is refused by its expiry and recorded start
//! time (the injected clock).
//!
//! Sign counters: webauthn-rs refuses an assertion whose non-zero counter did not increase (a
//! possibly cloned authenticator). Synced passkeys usually report 0 on every use; that is
//! accepted, since their security rests on the sync provider, not on the counter.
//!
//! Passkeys and security keys are stored as the JSON of webauthn-rs's `Passkey` and `SecurityKey`,
//! which share one shape (`{"cred": …}`); as a second factor every credential of the user is read
//! as a `SecurityKey`, so one ceremony accepts either kind.

use super::error::AuthnError;
use crate::accounts::{User, UserId};
use crate::clock::SharedClock;
use crate::secrets::{random_token, sha256_hex};
use crate::sessions::{EndReason, NewSession, Session, SessionId, SessionService, SessionToken};
use crate::store::{SingleUseKind, Store, StoredCredential};
use crate::tenancy::Org;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// Recovery codes per user.
pub const RECOVERY_CODES: usize = 10;
/// Unambiguous lower-case letters and digits (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten characters from a 31-symbol alphabet: about 49 bits, drawn without modulo bias.
fn recovery_code() -> Result<String, String> {
    let mut out = String::with_capacity(10);
    while out.len() < 10 {
        let mut buf = [0u8; 16];
        getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
        for b in buf {
            // 248 = 8 × 31: rejecting larger bytes keeps every symbol equally likely.
            if b < 248 && out.len() < 10 {
                out.push(char::from(RECOVERY_ALPHABET[usize::from(b) % 31]));
            }
        }
    }
    Ok(out)
}

/// Bound to the user, so equal codes of two users never share a hash.
fn recovery_hash(user: UserId, normalised_code: &str) -> String {
    sha256_hex(&format!("{user}:{normalised_code}"))
}

/// How long a ceremony may take.
pub const FLOW_SECS: i64 = 300;
/// How long after the password step the second factor may follow.
pub const PENDING_SECS: i64 = 600;
/// Adding a factor needs an authentication at most this old.
pub const RECENT_AUTH_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Discoverable, user-verifying: signs in on its own.
    Passkey,
    /// A second factor after the password.
    SecurityKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebauthnFlowError {
    #[error("this sign-in step is unknown, already used or expired; start again")]
    UnknownFlow,
    #[error("please sign in again before changing your security keys")]
    ReauthRequired,
    #[error("the security key or passkey was not accepted")]
    Rejected,
    #[error("the first sign-in step has expired; enter your password again")]
    NoPendingLogin,
    /// A ceremony was tried from a pending step made for another one (e.g. enrolling a key from
    /// a step that asks for the enrolled key).
    #[error("this sign-in step cannot be finished that way; continue where you were sent")]
    WrongStep,
    /// A key tried to step up the very session it was enrolled in.
    #[error(
        "a key added during this sign-in counts from your next sign-in; sign in again to use it"
    )]
    KeyTooNew,
    #[error("name must be 1-100 characters")]
    InvalidName,
    #[error("this credential is already registered")]
    Duplicate,
    #[error(
        "confirm your email address before adding a security key or passkey: use the link we sent you"
    )]
    EmailNotVerified,
    #[error("WebAuthn is not available: {0}")]
    Setup(String),
    #[error(transparent)]
    Authn(#[from] AuthnError),
}

impl From<crate::store::StoreError> for WebauthnFlowError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Authn(AuthnError::Store(e))
    }
}

impl From<crate::sessions::SessionError> for WebauthnFlowError {
    fn from(e: crate::sessions::SessionError) -> Self {
        Self::Authn(AuthnError::Session(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Purpose {
    Register,
    PasskeyLogin,
    SecondFactor,
    StepUp,
}

#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    purpose: Purpose,
    user_id: Option<UserId>,
    pending: Option<String>,
    kind: Option<CredentialKind>,
    started: DateTime<Utc>,
    state: serde_json::Value,
}

/// What a pending sign-in step is for. Each ceremony accepts only its own kind, so a step made
/// for one can never be finished by another (enrolling a new key from a step that asks for an
/// enrolled key would skip the second factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingPurpose {
    /// Present an enrolled key (or a recovery code). Also the re-authentication of a live
    /// session (`reauth_of`).
    SecondFactor,
    /// Enrol the first key: only where the org requires MFA and the user has no key at all.
    FirstKeyEnrolment,
}

/// The first step of a sign-in that still needs its second factor. No session exists yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Required: a record without it (written by an older version) is refused.
    pub purpose: PendingPurpose,
    pub user_id: UserId,
    pub password_at: DateTime<Utc>,
    pub remember_me: bool,
    pub user_agent: Option<String>,
    pub ip: String,
    pub started: DateTime<Utc>,
    /// The browser's live session of the same user, when this sign-in re-authenticates it: it
    /// keeps its id (`sid`) instead of a new session starting beside it.
    #[serde(default)]
    pub reauth_of: Option<SessionId>,
    /// A digest of the password hash the first step checked: if the password changes (or an
    /// account set-up link drops it) before the second step, the pending step is void.
    #[serde(default)]
    pub password_stamp: Option<String>,
}

/// The stamp of a stored password hash, for `PendingLogin::password_stamp`.
pub fn password_stamp(hash: &str) -> String {
    sha256_hex(hash)
}

/// A registration answer that passed verification, not stored yet.
struct VerifiedKey {
    kind: CredentialKind,
    cred_id: String,
    json: String,
    name: String,
}

#[derive(Clone)]
pub struct WebauthnService {
    /// `None` when the public URL cannot be a relying party (an IP address): the IdP still runs,
    /// password sign-in works, and WebAuthn requests say why they cannot.
    relying_party: Option<Arc<Webauthn>>,
    store: Store,
    clock: SharedClock,
    sessions: SessionService,
}

impl std::fmt::Debug for WebauthnService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebauthnService")
    }
}

/// webauthn-rs asks for a discoverable credential only "preferably"; a passkey that signs in on
/// its own must be one, so the request requires it (webauthn-rs does not re-check residency).
fn require_discoverable(
    options: CreationChallengeResponse,
) -> Result<CreationChallengeResponse, WebauthnFlowError> {
    let setup = |e: serde_json::Error| WebauthnFlowError::Setup(e.to_string());
    let mut v = serde_json::to_value(options).map_err(setup)?;
    let selection = &mut v["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = serde_json::json!("required");
    selection["requireResidentKey"] = serde_json::json!(true);
    serde_json::from_value(v).map_err(setup)
}

/// base64url (no padding) of a credential id: the form browsers report as `id`.
fn credential_id_string(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Checks a stored credential as an org import carries it: `json` is webauthn-rs's record of
/// its `kind` (`passkey` or `security_key`), filed under its own credential id, and readable
/// as a `SecurityKey` (how the second-factor ceremony reads every credential).
pub fn check_stored_credential(
    kind: &str,
    credential_id: &str,
    json: &str,
) -> Result<(), &'static str> {
    let unreadable = "not a webauthn-rs credential record of its kind";
    let own_id = match kind {
        "passkey" => serde_json::from_str::<Passkey>(json)
            .map(|k| credential_id_string(k.cred_id()))
            .map_err(|_| unreadable)?,
        "security_key" => serde_json::from_str::<SecurityKey>(json)
            .map(|k| credential_id_string(k.cred_id()))
            .map_err(|_| unreadable)?,
        _ => return Err("kind must be passkey or security_key"),
    };
    serde_json::from_str::<SecurityKey>(json).map_err(|_| unreadable)?;
    if own_id != credential_id {
        return Err("credential_id is not the credential's own id");
    }
    Ok(())
}

impl WebauthnService {
    /// One relying party for the deployment: its id is the public URL's host, its origin the
    /// public URL. Credentials are still org-scoped: they are looked up by (org, credential id).
    pub fn new(
        public_url: &str,
        name: &str,
        store: Store,
        clock: SharedClock,
        sessions: SessionService,
    ) -> Self {
        let relying_party = match Self::relying_party(public_url, name) {
            Ok(rp) => Some(Arc::new(rp)),
            Err(reason) => {
                tracing::warn!(%reason, "WebAuthn disabled: the public URL needs a domain name (not an IP address) to be a relying party");
                None
            }
        };
        Self {
            relying_party,
            store,
            clock,
            sessions,
        }
    }

    fn relying_party(public_url: &str, name: &str) -> Result<Webauthn, String> {
        let origin = Url::parse(public_url).map_err(|e| e.to_string())?;
        let rp_id = match origin.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(_) => return Err(format!("{public_url} has an IP address for a host")),
            None => return Err(format!("{public_url} has no host")),
        };
        // Security keys are the second step after a password: user presence is enough, as with
        // every common 2FA key. (With webauthn-rs's default, a credProtect request that Chromium
        // refuses for non-discoverable keys is sent.) Passkeys always require verification.
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| {
                b.rp_name(name)
                    .danger_set_user_presence_only_security_keys(true)
                    .build()
            })
            .map_err(|e| e.to_string())
    }

    fn webauthn(&self) -> Result<&Webauthn, WebauthnFlowError> {
        self.relying_party.as_deref().ok_or_else(|| {
            WebauthnFlowError::Setup("security keys need a public URL with a domain name".into())
        })
    }

    async fn save_flow(&self, org: &Org, flow: &Flow) -> Result<String, WebauthnFlowError> {
        let id = random_token(24).map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        let json =
            serde_json::to_string(flow).map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        self.store
            .put_single_use(
                org.id,
                SingleUseKind::WebauthnFlow,
                &id,
                &json,
                flow.started + Duration::seconds(FLOW_SECS),
            )
            .await?;
        Ok(id)
    }

    /// Takes a flow (single use) and checks its purpose and age.
    async fn take_flow(
        &self,
        org: &Org,
        flow_id: &str,
        purpose: Purpose,
    ) -> Result<Flow, WebauthnFlowError> {
        // A database failure is not a verdict on the flow: it answers 503, not "start again".
        let json = self
            .store
            .take_single_use(
                org.id,
                SingleUseKind::WebauthnFlow,
                flow_id,
                self.clock.now(),
            )
            .await?;
        let flow: Flow = json
            .and_then(|j| serde_json::from_str(&j).ok())
            .ok_or(WebauthnFlowError::UnknownFlow)?;
        if flow.purpose != purpose || self.clock.now() - flow.started > Duration::seconds(FLOW_SECS)
        {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        Ok(flow)
    }

    fn state<T: Serialize>(state: &T) -> Result<serde_json::Value, WebauthnFlowError> {
        serde_json::to_value(state).map_err(|e| WebauthnFlowError::Setup(e.to_string()))
    }

    fn restore<T: for<'de> Deserialize<'de>>(flow: Flow) -> Result<T, WebauthnFlowError> {
        serde_json::from_value(flow.state).map_err(|_| WebauthnFlowError::UnknownFlow)
    }

    pub async fn credentials(
        &self,
        org: &Org,
        user: UserId,
    ) -> Result<Vec<StoredCredential>, WebauthnFlowError> {
        Ok(self.store.user_credentials(org.id, user).await?)
    }

    /// The session must have authenticated within `RECENT_AUTH_SECS` (sensitive changes).
    pub(crate) fn require_recent(&self, session: &Session) -> Result<(), WebauthnFlowError> {
        let now = self.clock.now();
        let last = [
            Some(session.auth_time),
            session.password_at,
            session.webauthn_at,
        ]
        .into_iter()
        .flatten()
        .max();
        if last.is_none_or(|t| now - t > Duration::seconds(RECENT_AUTH_SECS)) {
            return Err(WebauthnFlowError::ReauthRequired);
        }
        Ok(())
    }

    /// Renames one of the signed-in user's credentials (a label only: no recent authentication
    /// needed).
    pub async fn rename(
        &self,
        org: &Org,
        session: &Session,
        id: uuid::Uuid,
        name: &str,
    ) -> Result<(), WebauthnFlowError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(WebauthnFlowError::InvalidName);
        }
        match self
            .store
            .rename_credential(org.id, session.user_id, id, name)
            .await
        {
            Ok(()) => Ok(()),
            Err(crate::store::StoreError::NotFound) => Err(WebauthnFlowError::Rejected),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes one of the signed-in user's credentials; needs a recent authentication.
    pub async fn remove(
        &self,
        org: &Org,
        session: &Session,
        id: uuid::Uuid,
    ) -> Result<(), WebauthnFlowError> {
        self.require_recent(session)?;
        let notice = crate::email::notice_to(
            &self.store,
            org,
            session.user_id,
            "a security key was removed",
            &format!(
                "A security key or passkey was removed from your {} account.",
                org.name
            ),
        )
        .await?;
        match self
            .store
            .delete_credential(
                org.id,
                session.user_id,
                id,
                notice.as_ref(),
                self.clock.now(),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(crate::store::StoreError::NotFound) => Err(WebauthnFlowError::Rejected),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts enrolling a passkey or security key for the signed-in user; needs a recent
    /// authentication.
    pub async fn start_registration(
        &self,
        org: &Org,
        session: &Session,
        user: &User,
        kind: CredentialKind,
    ) -> Result<(String, CreationChallengeResponse), WebauthnFlowError> {
        self.require_recent(session)?;
        if user.email_verified_at.is_none() {
            return Err(WebauthnFlowError::EmailNotVerified);
        }
        self.start_register(org, user, kind, None).await
    }

    /// Starts enrolling the first factor of a user whose org requires MFA, right after the
    /// password step and before any session exists.
    pub async fn start_enrolment(
        &self,
        org: &Org,
        pending_token: &str,
        kind: CredentialKind,
    ) -> Result<(String, CreationChallengeResponse), WebauthnFlowError> {
        let pending = self.pending(org, pending_token).await?;
        self.check_enrolment_allowed(org, &pending).await?;
        let user = self
            .store
            .user_by_id(org.id, pending.user_id)
            .await?
            .ok_or(WebauthnFlowError::NoPendingLogin)?;
        // Keys are for proven addresses: otherwise whoever signed up with someone else's address
        // could keep a key past the owner's set-up link.
        if user.email_verified_at.is_none() {
            return Err(WebauthnFlowError::EmailNotVerified);
        }
        self.start_register(org, &user, kind, Some(sha256_hex(pending_token)))
            .await
    }

    /// Starts enrolling the passkey an invitee sets up their account with, bound to the
    /// invitation link (checked by the caller).
    pub async fn start_invitation(
        &self,
        org: &Org,
        user: &User,
        link_token: &str,
    ) -> Result<(String, CreationChallengeResponse), WebauthnFlowError> {
        self.check_invitation_allowed(org, user).await?;
        let binding = format!("invite:{}", sha256_hex(link_token));
        self.start_register(org, user, CredentialKind::Passkey, Some(binding))
            .await
    }

    /// An invitation link sets an account up; it is no way around the keys of an account that
    /// has them (a verified account keeps its keys; an unverified one loses them with the link).
    async fn check_invitation_allowed(
        &self,
        org: &Org,
        user: &User,
    ) -> Result<(), WebauthnFlowError> {
        if user.email_verified_at.is_some()
            && self.store.count_user_credentials(org.id, user.id).await? > 0
        {
            return Err(WebauthnFlowError::WrongStep);
        }
        Ok(())
    }

    /// Finishes an invitee's passkey: stores it, uses the invitation link up (the address
    /// counts as verified) and starts the session, signed in with the passkey.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_invitation(
        &self,
        org: &Org,
        link: &crate::store::EmailLink,
        link_token: &str,
        flow_id: &str,
        answer: &RegisterPublicKeyCredential,
        name: &str,
        user_agent: Option<String>,
        ip: String,
    ) -> Result<(Session, SessionToken), WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::Register).await?;
        let binding = format!("invite:{}", sha256_hex(link_token));
        if flow.pending.as_deref() != Some(binding.as_str()) || flow.user_id != Some(link.user_id) {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        let key = self.verify_registration(flow, answer, name)?;
        let user = self
            .store
            .user_by_id(org.id, link.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(WebauthnFlowError::UnknownFlow)?;
        self.check_invitation_allowed(org, &user).await?;
        let now = self.clock.now();
        // The link is used first (once, whatever races it); on an account nobody has verified
        // yet, whatever was set up before it (password, keys) goes.
        let wipe = user.email_verified_at.is_none();
        let actor = format!("user:{} (invitation link)", user.id);
        let ended = self
            .store
            .accept_link(
                org.id,
                link,
                None,
                wipe,
                wipe.then_some(EndReason::PasswordChanged),
                &actor,
                None,
                now,
            )
            .await?
            .ok_or(WebauthnFlowError::UnknownFlow)?;
        self.sessions.forget_ended(&ended).await;
        self.sessions.user_changed(org.id, user.id).await;
        // The passkey was enrolled, not used to authenticate: the session records no factor
        // (the link proved the mailbox), and the passkey counts from its next use.
        let new = NewSession {
            user_id: link.user_id,
            remember_me: false,
            password_at: None,
            webauthn_at: None,
            user_agent,
            ip: Some(ip),
        };
        let (session, token) = self.sessions.start(org.id, new).await?;
        self.store_key_of_sign_in(org, user.id, key, &session, true)
            .await?;
        Ok((session, token))
    }

    /// Stores the key a sign-in just enrolled, as enrolled in `session`. Should that fail (the
    /// key is registered already), a session the sign-in started (`fresh`) ends: no session
    /// without its key; a re-authenticated one stays as it was.
    async fn store_key_of_sign_in(
        &self,
        org: &Org,
        user: UserId,
        key: VerifiedKey,
        session: &Session,
        fresh: bool,
    ) -> Result<StoredCredential, WebauthnFlowError> {
        let stored = self
            .store_registration(org, user, key, Some(session.id))
            .await;
        if stored.is_err() && fresh {
            let _ = self
                .sessions
                .end(org.id, session.id, EndReason::Logout, "system")
                .await;
        }
        stored
    }

    /// A key may be enrolled from a pending step only when the step was made for that, the org
    /// requires MFA, and the user has no key at all (checked again at the finish: a key could
    /// have been added meanwhile).
    async fn check_enrolment_allowed(
        &self,
        org: &Org,
        pending: &PendingLogin,
    ) -> Result<(), WebauthnFlowError> {
        if pending.purpose != PendingPurpose::FirstKeyEnrolment {
            return Err(WebauthnFlowError::WrongStep);
        }
        let policy = self.sessions.policy(org.id).await?;
        if policy.mfa != crate::sessions::MfaPolicy::Required
            || self
                .store
                .count_user_credentials(org.id, pending.user_id)
                .await?
                > 0
        {
            return Err(WebauthnFlowError::WrongStep);
        }
        Ok(())
    }

    /// Second-factor ceremonies and recovery codes accept only a second-factor step.
    async fn second_factor_pending(
        &self,
        org: &Org,
        pending_token: &str,
    ) -> Result<PendingLogin, WebauthnFlowError> {
        let pending = self.pending(org, pending_token).await?;
        if pending.purpose != PendingPurpose::SecondFactor {
            return Err(WebauthnFlowError::WrongStep);
        }
        Ok(pending)
    }

    /// Takes the pending step (single use, atomically: of two parallel finishes one gets it).
    async fn take_pending(&self, org: &Org, pending_token: &str) -> Result<(), WebauthnFlowError> {
        self.store
            .take_single_use(
                org.id,
                SingleUseKind::PendingLogin,
                pending_token,
                self.clock.now(),
            )
            .await?
            .map(|_| ())
            .ok_or(WebauthnFlowError::NoPendingLogin)
    }

    async fn start_register(
        &self,
        org: &Org,
        user: &User,
        kind: CredentialKind,
        pending: Option<String>,
    ) -> Result<(String, CreationChallengeResponse), WebauthnFlowError> {
        let now = self.clock.now();
        let existing = self.store.user_credentials(org.id, user.id).await?;
        let exclude = existing
            .iter()
            .filter_map(|c| serde_json::from_str::<SecurityKey>(&c.credential).ok())
            .map(|k| k.cred_id().clone())
            .collect::<Vec<_>>();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let name = user.email.as_str();
        let display = user.name.as_deref().unwrap_or(name);
        let (options, state) = match kind {
            CredentialKind::Passkey => {
                let (o, s) = self
                    .webauthn()?
                    .start_passkey_registration(user.id.0, name, display, exclude)
                    .map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
                (require_discoverable(o)?, Self::state(&s)?)
            }
            CredentialKind::SecurityKey => {
                let (o, s) = self
                    .webauthn()?
                    .start_securitykey_registration(user.id.0, name, display, exclude, None, None)
                    .map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
                (o, Self::state(&s)?)
            }
        };
        let flow = Flow {
            purpose: Purpose::Register,
            user_id: Some(user.id),
            pending,
            kind: Some(kind),
            started: now,
            state,
        };
        Ok((self.save_flow(org, &flow).await?, options))
    }

    /// Finishes enrolment for the signed-in user and stores the credential.
    pub async fn finish_registration(
        &self,
        org: &Org,
        session: &Session,
        flow_id: &str,
        answer: &RegisterPublicKeyCredential,
        name: &str,
    ) -> Result<StoredCredential, WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::Register).await?;
        if flow.user_id != Some(session.user_id) || flow.pending.is_some() {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        let key = self.verify_registration(flow, answer, name)?;
        self.store_registration(org, session.user_id, key, Some(session.id))
            .await
    }

    /// Finishes a first-factor enrolment after the password step and starts the session. The
    /// session records the password only: the key was enrolled, not used to authenticate, so it
    /// counts from its next use (and cannot step up this session: `enrolled_in_session`).
    pub async fn finish_enrolment(
        &self,
        org: &Org,
        pending_token: &str,
        flow_id: &str,
        answer: &RegisterPublicKeyCredential,
        name: &str,
    ) -> Result<(StoredCredential, Session, SessionToken), WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::Register).await?;
        if flow.pending.as_deref() != Some(sha256_hex(pending_token).as_str()) {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        let pending = self.pending(org, pending_token).await?;
        if flow.user_id != Some(pending.user_id) {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        self.check_enrolment_allowed(org, &pending).await?;
        let key = self.verify_registration(flow, answer, name)?;
        self.take_pending(org, pending_token).await?;
        let user = pending.user_id;
        let reauth_of = pending.reauth_of;
        let (session, token) = self.start_from_pending(org, pending, false).await?;
        let fresh = reauth_of != Some(session.id);
        let stored = self
            .store_key_of_sign_in(org, user, key, &session, fresh)
            .await?;
        Ok((stored, session, token))
    }

    /// The session a finished pending step starts (or re-authenticates). `key_used`: a key
    /// authenticated the user in this step (not merely enrolled).
    async fn start_from_pending(
        &self,
        org: &Org,
        pending: PendingLogin,
        key_used: bool,
    ) -> Result<(Session, SessionToken), WebauthnFlowError> {
        if let Some(id) = pending.reauth_of
            && let Some(current) = self.sessions.live(org.id, id).await?
            && current.user_id == pending.user_id
        {
            let (session, token) = self.sessions.reauthenticate(org.id, &current).await?;
            if !key_used {
                return Ok((session, token));
            }
            let session = self
                .sessions
                .record_webauthn(org.id, &session, self.clock.now())
                .await?;
            return Ok((session, token));
        }
        let new = NewSession {
            user_id: pending.user_id,
            remember_me: pending.remember_me,
            password_at: Some(pending.password_at),
            webauthn_at: key_used.then(|| self.clock.now()),
            user_agent: pending.user_agent,
            ip: Some(pending.ip),
        };
        Ok(self.sessions.start(org.id, new).await?)
    }

    /// Checks a registration answer (and the key's name) without storing anything.
    fn verify_registration(
        &self,
        flow: Flow,
        answer: &RegisterPublicKeyCredential,
        name: &str,
    ) -> Result<VerifiedKey, WebauthnFlowError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(WebauthnFlowError::InvalidName);
        }
        let kind = flow.kind.ok_or(WebauthnFlowError::UnknownFlow)?;
        let (cred_id, json) = match kind {
            CredentialKind::Passkey => {
                let state: PasskeyRegistration = Self::restore(flow)?;
                let key = self
                    .webauthn()?
                    .finish_passkey_registration(answer, &state)
                    .map_err(|_| WebauthnFlowError::Rejected)?;
                (
                    credential_id_string(key.cred_id()),
                    serde_json::to_string(&key),
                )
            }
            CredentialKind::SecurityKey => {
                let state: SecurityKeyRegistration = Self::restore(flow)?;
                let key = self
                    .webauthn()?
                    .finish_securitykey_registration(answer, &state)
                    .map_err(|_| WebauthnFlowError::Rejected)?;
                (
                    credential_id_string(key.cred_id()),
                    serde_json::to_string(&key),
                )
            }
        };
        let json = json.map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        Ok(VerifiedKey {
            kind,
            cred_id,
            json,
            name: name.to_owned(),
        })
    }

    /// Stores a verified key for `user`, with the "key added" notice.
    async fn store_registration(
        &self,
        org: &Org,
        user: UserId,
        key: VerifiedKey,
        enrolled_in_session: Option<SessionId>,
    ) -> Result<StoredCredential, WebauthnFlowError> {
        let name = key.name.as_str();
        let notice = crate::email::notice_to(
            &self.store,
            org,
            user,
            "a security key was added",
            &format!(
                "A security key or passkey named \"{name}\" was added to your {} account.",
                org.name
            ),
        )
        .await?;
        match self
            .store
            .insert_credential(
                org.id,
                user,
                &key.cred_id,
                key.kind.as_str(),
                name,
                &key.json,
                enrolled_in_session.map(|s| s.0),
                notice.as_ref(),
                self.clock.now(),
            )
            .await
        {
            Ok(c) => Ok(c),
            Err(crate::store::StoreError::Conflict) => Err(WebauthnFlowError::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts a passwordless sign-in: the browser offers any discoverable passkey.
    pub async fn start_passkey_login(
        &self,
        org: &Org,
    ) -> Result<(String, RequestChallengeResponse), WebauthnFlowError> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        let flow = Flow {
            purpose: Purpose::PasskeyLogin,
            user_id: None,
            pending: None,
            kind: None,
            started: self.clock.now(),
            state: Self::state(&state)?,
        };
        Ok((self.save_flow(org, &flow).await?, options))
    }

    /// Finishes a passwordless sign-in and starts the session.
    pub async fn finish_passkey_login(
        &self,
        org: &Org,
        flow_id: &str,
        answer: &PublicKeyCredential,
        user_agent: Option<String>,
        ip: String,
        current: Option<Session>,
    ) -> Result<(Session, SessionToken), WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::PasskeyLogin).await?;
        let state: DiscoverableAuthentication = Self::restore(flow)?;
        let (user_uuid, raw_id) = self
            .webauthn()?
            .identify_discoverable_authentication(answer)
            .map_err(|_| WebauthnFlowError::Rejected)?;
        let cred_id = credential_id_string(raw_id);
        // Looked up in this org only: a credential of another org is unknown here.
        let stored = self
            .store
            .credential_by_credential_id(org.id, &cred_id)
            .await?
            .ok_or(WebauthnFlowError::Rejected)?;
        if stored.user_id.0 != user_uuid || stored.kind != CredentialKind::Passkey.as_str() {
            return Err(WebauthnFlowError::Rejected);
        }
        let mut key: Passkey =
            serde_json::from_str(&stored.credential).map_err(|_| WebauthnFlowError::Rejected)?;
        let result = self
            .webauthn()?
            .finish_discoverable_authentication_v2(answer, state, &key)
            .map_err(|_| WebauthnFlowError::Rejected)?;
        let user = self
            .store
            .user_by_id(org.id, stored.user_id)
            .await?
            .filter(|u| u.active)
            .filter(|u| !org.signup.require_verified_email || u.email_verified_at.is_some())
            .ok_or(WebauthnFlowError::Rejected)?;
        key.update_credential(&result);
        let now = self.clock.now();
        let json = serde_json::to_string(&key).unwrap_or(stored.credential.clone());
        self.store
            .credential_used(org.id, stored.id, &json, now)
            .await?;
        // The browser's live session of the same user is re-authenticated (same `sid`, its
        // apps stay signed in), not replaced.
        if let Some(current) = current.filter(|c| c.user_id == user.id) {
            return Ok(self
                .sessions
                .reauthenticate_with_key(org.id, &current)
                .await?);
        }
        let new = NewSession {
            user_id: user.id,
            remember_me: false,
            password_at: None,
            webauthn_at: Some(now),
            user_agent,
            ip: Some(ip),
        };
        Ok(self.sessions.start(org.id, new).await?)
    }

    /// Records the password step of a sign-in that needs a second factor; returns the token the
    /// browser keeps (in an org-scoped cookie) until the factor is presented.
    pub async fn begin_pending(
        &self,
        org: &Org,
        pending: &PendingLogin,
    ) -> Result<String, WebauthnFlowError> {
        let token = random_token(32).map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        let json =
            serde_json::to_string(pending).map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        self.store
            .put_single_use(
                org.id,
                SingleUseKind::PendingLogin,
                &token,
                &json,
                pending.started + Duration::seconds(PENDING_SECS),
            )
            .await?;
        Ok(token)
    }

    pub(crate) async fn pending(
        &self,
        org: &Org,
        token: &str,
    ) -> Result<PendingLogin, WebauthnFlowError> {
        let pending: PendingLogin = self
            .store
            .get_single_use(org.id, SingleUseKind::PendingLogin, token, self.clock.now())
            .await?
            .and_then(|j| serde_json::from_str(&j).ok())
            .ok_or(WebauthnFlowError::NoPendingLogin)?;
        if self.clock.now() - pending.started > Duration::seconds(PENDING_SECS) {
            return Err(WebauthnFlowError::NoPendingLogin);
        }
        if let Some(stamp) = &pending.password_stamp {
            let current = self
                .store
                .user_password_hash(org.id, pending.user_id)
                .await?;
            if current.as_deref().map(password_stamp).as_ref() != Some(stamp) {
                return Err(WebauthnFlowError::NoPendingLogin);
            }
        }
        Ok(pending)
    }

    /// Starts an assertion with every key of `user` (passkeys and security keys alike), bound to
    /// `binding` (a pending step or a session).
    async fn start_key_assertion(
        &self,
        org: &Org,
        user: UserId,
        purpose: Purpose,
        binding: String,
    ) -> Result<(String, RequestChallengeResponse), WebauthnFlowError> {
        let stored = self.store.user_credentials(org.id, user).await?;
        let keys = stored
            .iter()
            .filter_map(|c| serde_json::from_str::<SecurityKey>(&c.credential).ok())
            .collect::<Vec<_>>();
        if keys.is_empty() {
            return Err(WebauthnFlowError::Rejected);
        }
        let (mut options, state) = self
            .webauthn()?
            .start_securitykey_authentication(&keys)
            .map_err(|e| WebauthnFlowError::Setup(e.to_string()))?;
        // A passkey was registered with user verification, and webauthn-rs (rightly) insists on
        // it at every later use; the security-key ceremony asks for "discouraged", so the
        // browser must be told to verify the user when a passkey may answer.
        // (The policy type is not re-exported by webauthn-rs, hence the JSON round trip.)
        if stored.iter().any(|c| c.kind == "passkey")
            && let Ok(mut json) = serde_json::to_value(&options)
        {
            json["publicKey"]["userVerification"] = serde_json::Value::from("preferred");
            if let Ok(changed) = serde_json::from_value(json) {
                options = changed;
            }
        }
        let flow = Flow {
            purpose,
            user_id: Some(user),
            pending: Some(binding),
            kind: None,
            started: self.clock.now(),
            state: Self::state(&state)?,
        };
        Ok((self.save_flow(org, &flow).await?, options))
    }

    /// Verifies the answer to a key assertion: the key must be one of `user`'s in this org.
    /// Records its use (counter, time) and returns when it happened.
    async fn verify_key_assertion(
        &self,
        org: &Org,
        user: UserId,
        flow: Flow,
        answer: &PublicKeyCredential,
    ) -> Result<(DateTime<Utc>, StoredCredential), WebauthnFlowError> {
        let state: SecurityKeyAuthentication = Self::restore(flow)?;
        let result = self
            .webauthn()?
            .finish_securitykey_authentication(answer, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "key assertion rejected");
                WebauthnFlowError::Rejected
            })?;
        let stored = self
            .store
            .credential_by_credential_id(org.id, &credential_id_string(result.cred_id()))
            .await?
            .filter(|c| c.user_id == user)
            .ok_or(WebauthnFlowError::Rejected)?;
        let now = self.clock.now();
        if let Ok(mut key) = serde_json::from_str::<SecurityKey>(&stored.credential) {
            key.update_credential(&result);
            if let Ok(json) = serde_json::to_string(&key) {
                self.store
                    .credential_used(org.id, stored.id, &json, now)
                    .await?;
            }
        }
        Ok((now, stored))
    }

    /// Which page finishes a pending sign-in: `key` (present an enrolled key) or `enrol` (add the
    /// first one); `None` when there is no live pending step.
    pub async fn pending_step(&self, org: &Org, pending_token: &str) -> Option<&'static str> {
        let pending = self.pending(org, pending_token).await.ok()?;
        Some(match pending.purpose {
            PendingPurpose::SecondFactor => "key",
            PendingPurpose::FirstKeyEnrolment => "enrol",
        })
    }

    /// Starts the second-factor ceremony with every credential of the pending user.
    pub async fn start_second_factor(
        &self,
        org: &Org,
        pending_token: &str,
    ) -> Result<(String, RequestChallengeResponse), WebauthnFlowError> {
        let pending = self.second_factor_pending(org, pending_token).await?;
        self.start_key_assertion(
            org,
            pending.user_id,
            Purpose::SecondFactor,
            sha256_hex(pending_token),
        )
        .await
    }

    /// Ten new recovery codes for the signed-in user (replacing any old ones); needs a recent
    /// authentication. The codes are returned once and stored only as hashes.
    pub async fn regenerate_recovery_codes(
        &self,
        org: &Org,
        session: &Session,
    ) -> Result<Vec<String>, WebauthnFlowError> {
        self.require_recent(session)?;
        let mut shown = Vec::with_capacity(RECOVERY_CODES);
        let mut hashes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = recovery_code().map_err(WebauthnFlowError::Setup)?;
            hashes.push(recovery_hash(session.user_id, &code));
            shown.push(format!("{}-{}", &code[..5], &code[5..]));
        }
        self.store
            .replace_recovery_codes(org.id, session.user_id, &hashes, self.clock.now())
            .await?;
        Ok(shown)
    }

    /// Finishes a pending sign-in with a recovery code instead of a key. Each code works once.
    /// The session records only the password factor: a recovery code is not a key.
    pub async fn finish_with_recovery_code(
        &self,
        org: &Org,
        pending_token: &str,
        code: &str,
    ) -> Result<(Session, SessionToken), WebauthnFlowError> {
        let pending = self.second_factor_pending(org, pending_token).await?;
        // Take, then check: the pending step is used up before the code is compared, so parallel
        // requests on one password step get one guess between them, not one each.
        self.take_pending(org, pending_token).await?;
        let normalised: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let used = self
            .store
            .use_recovery_code(
                org.id,
                pending.user_id,
                &recovery_hash(pending.user_id, &normalised),
                self.clock.now(),
            )
            .await?;
        if !used {
            // One guess per password step: guessing codes costs a (throttled) password entry
            // each time.
            return Err(WebauthnFlowError::Rejected);
        }
        // A recovery code is not a key: the session records the password only. Re-authenticating
        // the browser's live session keeps it (and its apps).
        self.start_from_pending(org, pending, false).await
    }

    /// Step-up: a signed-in session that needs more assurance presents only the missing factor
    /// (a key), never the password again.
    pub async fn start_step_up(
        &self,
        org: &Org,
        session: &Session,
    ) -> Result<(String, RequestChallengeResponse), WebauthnFlowError> {
        self.start_key_assertion(
            org,
            session.user_id,
            Purpose::StepUp,
            session.id.to_string(),
        )
        .await
    }

    /// Finishes a step-up: records the key's time on the existing session.
    pub async fn finish_step_up(
        &self,
        org: &Org,
        session: &Session,
        flow_id: &str,
        answer: &PublicKeyCredential,
    ) -> Result<Session, WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::StepUp).await?;
        if flow.pending.as_deref() != Some(session.id.to_string().as_str())
            || flow.user_id != Some(session.user_id)
        {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        let (at, key) = self
            .verify_key_assertion(org, session.user_id, flow, answer)
            .await?;
        // A factor added during this sign-in does not raise its assurance.
        if key.enrolled_in_session == Some(session.id.0) {
            return Err(WebauthnFlowError::KeyTooNew);
        }
        Ok(self.sessions.record_webauthn(org.id, session, at).await?)
    }

    /// Finishes the second factor and starts the session with both factor times.
    pub async fn finish_second_factor(
        &self,
        org: &Org,
        pending_token: &str,
        flow_id: &str,
        answer: &PublicKeyCredential,
    ) -> Result<(Session, SessionToken), WebauthnFlowError> {
        let flow = self.take_flow(org, flow_id, Purpose::SecondFactor).await?;
        if flow.pending.as_deref() != Some(sha256_hex(pending_token).as_str()) {
            return Err(WebauthnFlowError::UnknownFlow);
        }
        let pending = self.second_factor_pending(org, pending_token).await?;
        self.verify_key_assertion(org, pending.user_id, flow, answer)
            .await?;
        // The pending step is single use too.
        self.take_pending(org, pending_token).await?;
        self.start_from_pending(org, pending, true).await
    }
}
