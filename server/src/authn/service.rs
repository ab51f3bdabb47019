//! Password sign-in and password change.
//!
//! No account enumeration: an unknown email costs the same argon2 verification (against a dummy
//! hash) and yields the same outcome as a wrong password; throttling is keyed by the typed email
//! whether or not it exists.
//!
//! Before any password is checked, a sign-in takes a seat in the node's `WaitingRoom` (bounded
//! per account, per IP and in total: refused at once beyond it) and reserves its attempt in the
//! `Throttle` (refused once over the limit); only then does argon2 run.

use super::error::AuthnError;
use super::throttle::{Reservation, Throttle};
use super::waiting::{Full, WaitingRoom};
use super::webauthn::{PendingLogin, PendingPurpose, WebauthnService};
use crate::accounts::{EmailAddress, Password, PasswordHasher, User, UserId};
use crate::audit::AuditEvent;
use crate::clock::SharedClock;
use crate::sessions::{NewSession, Session, SessionService, SessionToken};
use crate::store::Store;
use crate::tenancy::Org;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct LoginAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub remember_me: bool,
    pub user_agent: Option<String>,
    pub ip: String,
    /// The app being signed in to asks for MFA (the hook for the OIDC `acr` request).
    pub app_requests_mfa: bool,
    /// The live session of the browser, if any: when the same user signs in again, it is
    /// re-authenticated (new `auth_time`, same `sid`) instead of replaced.
    pub current: Option<Session>,
}

#[derive(Debug)]
pub enum LoginOutcome {
    /// The password was right, and a second factor must follow before a session exists.
    SecondFactorRequired { pending_token: String },
    /// The password was right, MFA is required and the user has no factor yet: they must enrol
    /// one (with the pending token) before a session exists.
    EnrolmentRequired { pending_token: String },
    SignedIn {
        session: Box<Session>,
        token: SessionToken,
        user: Box<User>,
    },
    /// The password was right, but the org requires a verified address and this one is not.
    EmailNotVerified,
    /// Unknown email, wrong password, disabled user or no password: deliberately one outcome.
    InvalidCredentials,
    /// Too many attempts (over the throttle's limit), or too many sign-ins of this account or
    /// from this address waiting for a password check: 429.
    Throttled { retry_after: Duration },
    /// Too many sign-ins waiting for a password check on this node: 503.
    Busy { retry_after: Duration },
}

/// What a password check came to, before any session is made.
struct Checked {
    user: Option<User>,
    stored: Option<String>,
    verified: bool,
    password: Option<Password>,
}

#[derive(Debug)]
pub enum PasswordChange {
    Changed {
        ended_sessions: usize,
    },
    WrongCurrentPassword,
    /// Too many wrong current passwords for the account or from the address (the sign-in
    /// throttle), or too many checks waiting: try again later.
    Throttled {
        retry_after: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct LoginService {
    store: Store,
    hasher: PasswordHasher,
    sessions: SessionService,
    throttle: Throttle,
    waiting: WaitingRoom,
    clock: SharedClock,
    webauthn: WebauthnService,
    dummy_hash: Arc<OnceCell<String>>,
}

impl LoginService {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        sessions: SessionService,
        throttle: Throttle,
        waiting: WaitingRoom,
        clock: SharedClock,
        webauthn: WebauthnService,
    ) -> Self {
        Self {
            store,
            hasher,
            sessions,
            throttle,
            waiting,
            clock,
            webauthn,
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    /// Sign-ins waiting for a password check on this node, and hashes running now.
    pub fn argon2_load(&self) -> (usize, usize) {
        (self.waiting.occupied(), self.hasher.running())
    }

    /// A hash of a random password with today's parameters, made once per process.
    async fn dummy_hash(&self) -> Result<&str, AuthnError> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| async {
                let random = crate::secrets::random_token(24)
                    .unwrap_or_else(|_| "dummy-password-value".into());
                self.hasher
                    .hash(&Password::for_verification(&random)?)
                    .await
                    .map_err(AuthnError::from)
            })
            .await?;
        Ok(hash)
    }

    async fn audit(
        &self,
        org: &Org,
        action: &'static str,
        target: Option<String>,
        details: serde_json::Value,
    ) {
        let event = AuditEvent {
            org_id: org.id,
            actor: "anonymous".into(),
            action,
            target,
            details,
        };
        if let Err(err) = self.store.record_audit(&event, self.clock.now()).await {
            tracing::warn!(error = %err, action, "could not record an audit event");
        }
    }

    /// `signin.throttled`, once per lock the throttle sets (account or client IP).
    async fn audit_lock(&self, org: &Org, ip: &str, lock: &crate::authn::throttle::NewLock) {
        let retry_after = (lock.until - self.clock.now()).num_seconds().max(1);
        let details = serde_json::json!({
            "ip": ip,
            "locked": lock.subject,
            "locked_until": lock.until,
            "retry_after_secs": retry_after,
        });
        self.audit(org, "signin.throttled", None, details).await;
    }

    /// The account behind `email` (if any, and active), its stored hash, and whether
    /// `password` matches it. Unknown accounts cost the same verification against a dummy hash.
    #[tracing::instrument(name = "password check", skip_all, fields(org = %org.id.0))]
    async fn check_password(
        &self,
        org: &Org,
        email: Option<&EmailAddress>,
        password: &str,
    ) -> Result<Checked, AuthnError> {
        let Ok(password) = Password::for_verification(password) else {
            return Ok(Checked {
                user: None,
                stored: None,
                verified: false,
                password: None,
            });
        };
        let user = match email {
            Some(e) => self.store.user_by_email(org.id, e).await?,
            None => None,
        };
        let stored = match &user {
            Some(u) if u.active => self.store.user_password_hash(org.id, u.id).await?,
            _ => None,
        };
        let verified = match &stored {
            Some(hash) => self.hasher.verify(&password, hash).await?,
            None => {
                // Same cost as a real verification, so timing does not reveal the account.
                let dummy = self.dummy_hash().await?.to_owned();
                let _ = self.hasher.verify(&password, &dummy).await?;
                false
            }
        };
        Ok(Checked {
            user,
            stored,
            verified,
            password: Some(password),
        })
    }

    /// A sign-in with email and password: a seat in the waiting room, a reserved attempt, the
    /// password check, then what follows a right password.
    pub async fn password_login(
        &self,
        org: &Org,
        attempt: LoginAttempt<'_>,
    ) -> Result<LoginOutcome, AuthnError> {
        let email = EmailAddress::parse(attempt.email).ok();
        let throttle_id = email.as_ref().map_or_else(
            || attempt.email.trim().to_lowercase(),
            |e| e.as_str().to_owned(),
        );
        // A seat among the sign-ins waiting for argon2, held until this function returns.
        let _seat = match self.waiting.enter(org.id, &throttle_id, &attempt.ip) {
            Ok(seat) => seat,
            Err(full) => return Ok(waiting_room_full(org, full)),
        };
        // Reserve, then check: the attempt counts before the password is looked at.
        let reservation = match self.reserve_attempt(org, &throttle_id, &attempt.ip).await {
            Ok(r) => r,
            Err(throttled) => return Ok(throttled),
        };
        let checked = self
            .check_password(org, email.as_ref(), attempt.password)
            .await;
        let (checked, reservation) = self.unless_our_failure(reservation, checked).await?;
        let right = match checked.into_right() {
            Ok(right) => right,
            Err(wrong) => {
                // The reservation stays taken: it is this failure's count.
                drop::<Reservation>(reservation);
                self.audit_wrong_password(org, &attempt.ip, &wrong).await;
                return Ok(LoginOutcome::InvalidCredentials);
            }
        };
        self.throttle.succeeded(reservation).await;
        self.after_right_password(org, attempt, right).await
    }

    /// The throttle's reservation of a sign-in attempt, or its refusal. Each lock it sets is
    /// audited once.
    async fn reserve_attempt(
        &self,
        org: &Org,
        throttle_id: &str,
        ip: &str,
    ) -> Result<Reservation, LoginOutcome> {
        match self.throttle.reserve(org.id, throttle_id, ip).await {
            Ok(r) => {
                for lock in r.new_locks() {
                    self.audit_lock(org, ip, lock).await;
                }
                Ok(r)
            }
            Err(t) => {
                // One audit row per lock, when it is set: refusals while it holds write none
                // (one client could otherwise write a row per request, for any email).
                if let Some(lock) = &t.new_lock {
                    self.audit_lock(org, ip, lock).await;
                }
                Err(LoginOutcome::Throttled {
                    retry_after: t.retry_after,
                })
            }
        }
    }

    /// `result` of a password check under `reservation`. Our failure, not the user's, gives
    /// the attempt back (it does not count); otherwise the caller settles it.
    async fn unless_our_failure<T>(
        &self,
        reservation: Reservation,
        result: Result<T, AuthnError>,
    ) -> Result<(T, Reservation), AuthnError> {
        match result {
            Ok(value) => Ok((value, reservation)),
            Err(e) => {
                self.throttle.give_back(reservation).await;
                Err(e)
            }
        }
    }

    /// `signin.failed`, with why (for the audit log only: the user hears one answer).
    async fn audit_wrong_password(&self, org: &Org, ip: &str, wrong: &WrongPassword) {
        self.audit(
            org,
            "signin.failed",
            wrong.user.map(|id| id.to_string()),
            serde_json::json!({ "reason": wrong.reason, "ip": ip }),
        )
        .await;
    }

    /// The password was right: unless the address must be verified first, a pending step (a
    /// second factor, or a first key) or the session.
    async fn after_right_password(
        &self,
        org: &Org,
        attempt: LoginAttempt<'_>,
        right: RightPassword,
    ) -> Result<LoginOutcome, AuthnError> {
        let user = &right.user;
        // Told only to whoever knows the password: nobody else learns the account exists.
        if org.signup.require_verified_email && user.email_verified_at.is_none() {
            self.audit(
                org,
                "signin.failed",
                Some(user.id.to_string()),
                serde_json::json!({ "reason": "email_not_verified", "ip": attempt.ip }),
            )
            .await;
            return Ok(LoginOutcome::EmailNotVerified);
        }
        let now = self.clock.now();
        let purpose = self.pending_purpose(org, user, &attempt).await?;
        if right
            .stored
            .as_deref()
            .is_some_and(PasswordHasher::needs_rehash)
        {
            let fresh = self.hasher.hash(&right.password).await?;
            self.store
                .set_user_password_hash(org.id, user.id, &fresh, None, None, self.clock.now())
                .await?;
        }
        match purpose {
            Some(purpose) => self.begin_pending(org, attempt, &right, purpose, now).await,
            None => self.sign_in(org, attempt, right.user, now).await,
        }
    }

    /// The step a right password leads to before any session, if one: a user with a key
    /// presents it; a first key is enrolled from the password step only where the org requires
    /// MFA. (An app asking for MFA of a user without a key gets a one-factor session and the
    /// step-up page: a key added then counts from the next sign-in, never for this one.)
    async fn pending_purpose(
        &self,
        org: &Org,
        user: &User,
        attempt: &LoginAttempt<'_>,
    ) -> Result<Option<PendingPurpose>, AuthnError> {
        let policy = self.sessions.policy(org.id).await?;
        let has_factor = self.store.count_user_credentials(org.id, user.id).await? > 0;
        Ok(if has_factor {
            policy
                .mfa
                .requires_second_factor(true, attempt.app_requests_mfa)
                .then_some(PendingPurpose::SecondFactor)
        } else {
            (policy.mfa == crate::sessions::MfaPolicy::Required)
                .then_some(PendingPurpose::FirstKeyEnrolment)
        })
    }

    /// A pending sign-in for `purpose`: no session until its step is done.
    async fn begin_pending(
        &self,
        org: &Org,
        attempt: LoginAttempt<'_>,
        right: &RightPassword,
        purpose: PendingPurpose,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, AuthnError> {
        let user_id = right.user.id;
        let pending = PendingLogin {
            purpose,
            user_id,
            password_at: now,
            remember_me: attempt.remember_me,
            user_agent: attempt.user_agent,
            ip: attempt.ip.clone(),
            started: now,
            reauth_of: attempt
                .current
                .as_ref()
                .filter(|c| c.user_id == user_id)
                .map(|c| c.id),
            password_stamp: right.stored.as_deref().map(super::webauthn::password_stamp),
        };
        let pending_token = self
            .webauthn
            .begin_pending(org, &pending)
            .await
            .map_err(|e| AuthnError::Pending(e.to_string()))?;
        let (needs, outcome) = match purpose {
            PendingPurpose::SecondFactor => (
                "second_factor",
                LoginOutcome::SecondFactorRequired { pending_token },
            ),
            PendingPurpose::FirstKeyEnrolment => (
                "enrolment",
                LoginOutcome::EnrolmentRequired { pending_token },
            ),
        };
        self.audit(
            org,
            "signin.password_verified",
            Some(user_id.to_string()),
            serde_json::json!({ "needs": needs }),
        )
        .await;
        Ok(outcome)
    }

    /// The session: the browser's own, re-authenticated, when it is the same user's; a new one
    /// otherwise.
    async fn sign_in(
        &self,
        org: &Org,
        attempt: LoginAttempt<'_>,
        user: User,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, AuthnError> {
        let (action, (session, token)) =
            match attempt.current.as_ref().filter(|c| c.user_id == user.id) {
                Some(current) => (
                    "signin.reauthenticated",
                    self.sessions.reauthenticate(org.id, current).await?,
                ),
                None => {
                    let new = NewSession {
                        user_id: user.id,
                        remember_me: attempt.remember_me,
                        password_at: Some(now),
                        webauthn_at: None,
                        user_agent: attempt.user_agent,
                        ip: Some(attempt.ip.clone()),
                    };
                    ("signin.succeeded", self.sessions.start(org.id, new).await?)
                }
            };
        self.audit(
            org,
            action,
            Some(user.id.to_string()),
            serde_json::json!({ "session_id": session.id.to_string(), "ip": attempt.ip }),
        )
        .await;
        Ok(LoginOutcome::SignedIn {
            session: Box::new(session),
            token,
            user: Box::new(user),
        })
    }

    /// Changes the password after checking the current one; optionally ends the user's other
    /// sessions (reason `password_changed`).
    pub async fn change_password(
        &self,
        org: &Org,
        session: &Session,
        current: &str,
        new: &str,
        end_other_sessions: bool,
        ip: &str,
    ) -> Result<PasswordChange, AuthnError> {
        let new = Password::parse(new)?;
        let current = Password::for_verification(current)?;
        // The current password is a guess like a sign-in's (a stolen session must not get
        // unlimited tries): the same waiting room and the same throttle, reserved first.
        let Some(user) = self.store.user_by_id(org.id, session.user_id).await? else {
            return Ok(PasswordChange::WrongCurrentPassword);
        };
        let throttle_id = user.email.as_str();
        let _seat = match self.waiting.enter(org.id, throttle_id, ip) {
            Ok(seat) => seat,
            Err(_) => {
                return Ok(PasswordChange::Throttled {
                    retry_after: Duration::seconds(1),
                });
            }
        };
        let reservation = match self.throttle.reserve(org.id, throttle_id, ip).await {
            Ok(r) => r,
            Err(t) => {
                return Ok(PasswordChange::Throttled {
                    retry_after: t.retry_after,
                });
            }
        };
        let matches = self.password_matches(org, session.user_id, &current).await;
        let (matches, reservation) = self.unless_our_failure(reservation, matches).await?;
        if !matches {
            // The reservation stays taken: it is this failure's count.
            drop::<Reservation>(reservation);
            return Ok(PasswordChange::WrongCurrentPassword);
        }
        self.throttle.succeeded(reservation).await;
        self.replace_password(org, session, &new, end_other_sessions)
            .await
    }

    /// Whether `password` is the user's (a user without a password has none to match).
    async fn password_matches(
        &self,
        org: &Org,
        user: UserId,
        password: &Password,
    ) -> Result<bool, AuthnError> {
        match self.store.user_password_hash(org.id, user).await? {
            Some(hash) => Ok(self.hasher.verify(password, &hash).await?),
            None => Ok(false),
        }
    }

    /// Stores the new password, with a notice to the user, and ends the other sessions when
    /// asked.
    async fn replace_password(
        &self,
        org: &Org,
        session: &Session,
        new: &Password,
        end_other_sessions: bool,
    ) -> Result<PasswordChange, AuthnError> {
        let hash = self.hasher.hash(new).await?;
        let actor = format!("user:{}", session.user_id);
        let notice = crate::email::notice_to(
            &self.store,
            org,
            session.user_id,
            "your password was changed",
            &format!("The password of your {} account was changed.", org.name),
        )
        .await?;
        // One transaction: the new password and the end of the other sessions (with their app
        // sessions, outliving ones included) commit together.
        let ended = self
            .store
            .change_password_hash(
                org.id,
                session.user_id,
                &hash,
                Some(&actor),
                notice.as_ref(),
                end_other_sessions.then_some(session.id),
                self.clock.now(),
            )
            .await?;
        self.sessions.forget_ended(&ended).await;
        let ended_sessions = ended.len();
        Ok(PasswordChange::Changed { ended_sessions })
    }
}

/// A password check that came out right: an active user, their stored hash and the password.
struct RightPassword {
    user: User,
    stored: Option<String>,
    password: Password,
}

/// A password check that failed: whose account (if any) and why.
struct WrongPassword {
    user: Option<UserId>,
    reason: &'static str,
}

impl From<Checked> for WrongPassword {
    fn from(wrong: Checked) -> Self {
        let reason = match (&wrong.user, &wrong.stored) {
            (None, _) => "unknown_user",
            (Some(u), _) if !u.active => "user_disabled",
            (Some(_), None) => "no_password",
            (Some(_), Some(_)) => "bad_password",
        };
        Self {
            user: wrong.user.map(|u| u.id),
            reason,
        }
    }
}

impl Checked {
    /// The user and password when the password was right, or why not.
    fn into_right(self) -> Result<RightPassword, WrongPassword> {
        match self {
            Checked {
                user: Some(user),
                stored,
                verified: true,
                password: Some(password),
            } => Ok(RightPassword {
                user,
                stored,
                password,
            }),
            wrong => Err(WrongPassword::from(wrong)),
        }
    }
}

/// A sign-in refused by the waiting room: too many of this account or address (429), or on
/// this node (503).
fn waiting_room_full(org: &Org, full: Full) -> LoginOutcome {
    tracing::info!(org = %org.id, ?full, "sign-in refused: too many waiting");
    let retry_after = Duration::seconds(1);
    match full {
        Full::Account | Full::Ip => LoginOutcome::Throttled { retry_after },
        Full::Node => LoginOutcome::Busy { retry_after },
    }
}
