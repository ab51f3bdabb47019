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
use crate::accounts::{EmailAddress, Password, PasswordHasher, User};
use crate::audit::AuditEvent;
use crate::clock::SharedClock;
use crate::sessions::{NewSession, Session, SessionService, SessionToken};
use crate::store::Store;
use crate::tenancy::Org;
use chrono::Duration;
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
            Err(full) => {
                tracing::info!(org = %org.id, ?full, "sign-in refused: too many waiting");
                let retry_after = Duration::seconds(1);
                return Ok(match full {
                    Full::Account | Full::Ip => LoginOutcome::Throttled { retry_after },
                    Full::Node => LoginOutcome::Busy { retry_after },
                });
            }
        };
        // Reserve, then check: the attempt counts before the password is looked at.
        let reservation = match self
            .throttle
            .reserve(org.id, &throttle_id, &attempt.ip)
            .await
        {
            Ok(r) => {
                for lock in r.new_locks() {
                    self.audit_lock(org, &attempt.ip, lock).await;
                }
                r
            }
            Err(t) => {
                // One audit row per lock, when it is set: refusals while it holds write none
                // (one client could otherwise write a row per request, for any email).
                if let Some(lock) = &t.new_lock {
                    self.audit_lock(org, &attempt.ip, lock).await;
                }
                return Ok(LoginOutcome::Throttled {
                    retry_after: t.retry_after,
                });
            }
        };
        let checked = match self
            .check_password(org, email.as_ref(), attempt.password)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                // Our failure, not the user's: the attempt does not count.
                self.throttle.give_back(reservation).await;
                return Err(e);
            }
        };
        let (Some(user), true, Some(password)) =
            (checked.user.clone(), checked.verified, checked.password)
        else {
            // The reservation stays taken: it is this failure's count.
            drop::<Reservation>(reservation);
            let reason = match (&checked.user, &checked.stored) {
                (None, _) => "unknown_user",
                (Some(u), _) if !u.active => "user_disabled",
                (Some(_), None) => "no_password",
                (Some(_), Some(_)) => "bad_password",
            };
            let target = checked.user.as_ref().map(|u| u.id.to_string());
            self.audit(
                org,
                "signin.failed",
                target,
                serde_json::json!({ "reason": reason, "ip": attempt.ip }),
            )
            .await;
            return Ok(LoginOutcome::InvalidCredentials);
        };
        let stored = checked.stored;
        self.throttle.succeeded(reservation).await;
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
        let policy = self.sessions.policy(org.id).await?;
        let has_factor = self.store.count_user_credentials(org.id, user.id).await? > 0;
        // Typed pending steps: a user with a key presents it; a first key is enrolled from the
        // password step only where the org requires MFA. (An app asking for MFA of a user without
        // a key gets a one-factor session and the step-up page: a key added then counts from the
        // next sign-in, never for this one.)
        let purpose = if has_factor {
            policy
                .mfa
                .requires_second_factor(true, attempt.app_requests_mfa)
                .then_some(PendingPurpose::SecondFactor)
        } else {
            (policy.mfa == crate::sessions::MfaPolicy::Required)
                .then_some(PendingPurpose::FirstKeyEnrolment)
        };
        if stored.as_deref().is_some_and(PasswordHasher::needs_rehash) {
            let fresh = self.hasher.hash(&password).await?;
            self.store
                .set_user_password_hash(org.id, user.id, &fresh, None, None, self.clock.now())
                .await?;
        }
        if let Some(purpose) = purpose {
            let pending = PendingLogin {
                purpose,
                user_id: user.id,
                password_at: now,
                remember_me: attempt.remember_me,
                user_agent: attempt.user_agent,
                ip: attempt.ip.clone(),
                started: now,
                reauth_of: attempt
                    .current
                    .as_ref()
                    .filter(|c| c.user_id == user.id)
                    .map(|c| c.id),
                password_stamp: stored.as_deref().map(super::webauthn::password_stamp),
            };
            let pending_token = self
                .webauthn
                .begin_pending(org, &pending)
                .await
                .map_err(|e| AuthnError::Pending(e.to_string()))?;
            self.audit(org, "signin.password_verified", Some(user.id.to_string()), serde_json::json!({ "needs": if has_factor { "second_factor" } else { "enrolment" } })).await;
            return Ok(if has_factor {
                LoginOutcome::SecondFactorRequired { pending_token }
            } else {
                LoginOutcome::EnrolmentRequired { pending_token }
            });
        }
        if let Some(current) = attempt.current.as_ref().filter(|c| c.user_id == user.id) {
            let (session, token) = self.sessions.reauthenticate(org.id, current).await?;
            self.audit(
                org,
                "signin.reauthenticated",
                Some(user.id.to_string()),
                serde_json::json!({ "session_id": session.id.to_string(), "ip": attempt.ip }),
            )
            .await;
            return Ok(LoginOutcome::SignedIn {
                session: Box::new(session),
                token,
                user: Box::new(user),
            });
        }
        let new = NewSession {
            user_id: user.id,
            remember_me: attempt.remember_me,
            password_at: Some(now),
            webauthn_at: None,
            user_agent: attempt.user_agent,
            ip: Some(attempt.ip.clone()),
        };
        let (session, token) = self.sessions.start(org.id, new).await?;
        self.audit(
            org,
            "signin.succeeded",
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
        let stored = match self.store.user_password_hash(org.id, session.user_id).await {
            Ok(s) => s,
            Err(e) => {
                self.throttle.give_back(reservation).await;
                return Err(e.into());
            }
        };
        let ok = match &stored {
            Some(hash) => match self.hasher.verify(&current, hash).await {
                Ok(ok) => ok,
                Err(e) => {
                    self.throttle.give_back(reservation).await;
                    return Err(e.into());
                }
            },
            None => false,
        };
        if !ok {
            // The reservation stays taken: it is this failure's count.
            drop::<Reservation>(reservation);
            return Ok(PasswordChange::WrongCurrentPassword);
        }
        self.throttle.succeeded(reservation).await;
        let hash = self.hasher.hash(&new).await?;
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
