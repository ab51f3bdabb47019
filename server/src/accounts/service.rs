//! Account rules: creating users (password hashed before anything is written).

use super::error::AccountError;
use super::model::{EmailAddress, NewUser, Password, Role, User};
use super::password::PasswordHasher;
use crate::clock::SharedClock;
use crate::sessions::{EndReason, SessionService};
use crate::store::{Store, StoreError};
use crate::tenancy::Org;

#[derive(Debug, Clone)]
pub struct AccountService {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
    sessions: SessionService,
    /// Links in email are built from this only, never from request headers.
    public_url: String,
}

/// Reset links live this long.
pub const PASSWORD_RESET_TTL_MINUTES: i64 = 30;

/// What a reset attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    Done,
    /// Unknown, used, voided (a newer link exists) or expired: one answer for all.
    InvalidLink,
}

/// A user as requested by the CLI or API, before validation.
#[derive(Debug, Clone)]
pub struct CreateUser<'a> {
    pub email: &'a str,
    pub password: Option<&'a str>,
    pub name: Option<&'a str>,
    pub role: Role,
}

impl AccountService {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        clock: SharedClock,
        sessions: SessionService,
        public_url: String,
    ) -> Self {
        Self {
            store,
            hasher,
            clock,
            sessions,
            public_url,
        }
    }

    /// "Forgot password": for an active user of this org, a single-use link (valid 30
    /// minutes, the user's older links voided) goes out through the email outbox. Unknown
    /// emails get the same (silent) answer.
    pub async fn request_password_reset(&self, org: &Org, email: &str) -> Result<(), AccountError> {
        let Ok(email) = EmailAddress::parse(email) else {
            return Ok(());
        };
        let Some(user) = self
            .store
            .user_by_email(org.id, &email)
            .await?
            .filter(|u| u.active)
        else {
            return Ok(());
        };
        let ttl = chrono::Duration::minutes(PASSWORD_RESET_TTL_MINUTES);
        self.send_password_link(org, &user, ttl, |org_name, link| {
            (
                format!("Reset your {org_name} password"),
                format!(
                    "Someone asked to reset the password of your {org_name} account.\n\nTo choose a new one, open this link within {PASSWORD_RESET_TTL_MINUTES} minutes:\n{link}\n\nIf it was not you, ignore this message: your password stays as it is.\n"
                ),
            )
        })
        .await
    }

    /// An admin invites a user: a link (valid 7 days) to choose their password, through the
    /// outbox. Sending it again voids the previous link.
    pub async fn invite(&self, org: &Org, user: &User) -> Result<(), AccountError> {
        self.send_password_link(org, user, chrono::Duration::days(7), |org_name, link| {
            (
                format!("You are invited to {org_name}"),
                format!(
                    "You have an account at {org_name}.\n\nTo choose your password and sign in, open this link within 7 days:\n{link}\n"
                ),
            )
        })
        .await
    }

    /// Stores a single-use link for `user` and queues its message (text and HTML parts, with
    /// the org's name; the link is built from the configured public URL only).
    async fn send_password_link(
        &self,
        org: &Org,
        user: &User,
        ttl: chrono::Duration,
        text: impl FnOnce(&str, &str) -> (String, String),
    ) -> Result<(), AccountError> {
        let token = crate::secrets::random_token(32).map_err(|e| {
            AccountError::Store(crate::store::StoreError::Db(sea_orm::DbErr::Custom(
                e.to_string(),
            )))
        })?;
        let now = self.clock.now();
        let link = format!(
            "{}/o/{}/password/reset?token={token}",
            self.public_url,
            org.slug.as_str()
        );
        // Header values never carry line breaks (the subject holds the org's name).
        let org_name = org.name.replace(['\r', '\n'], " ");
        let (subject, body) = text(&org_name, &link);
        let html = format!(
            "<p>{}</p><p><a href=\"{}\">Choose your password</a></p>",
            crate::http::html_escape(body.lines().next().unwrap_or_default()),
            crate::http::html_escape(&link)
        );
        let mail = crate::email::OutgoingEmail {
            to: user.email.as_str().to_owned(),
            subject,
            text: body,
            html,
        };
        self.store
            .create_password_reset(
                org.id,
                user.id,
                &crate::secrets::sha256_hex(&token),
                now + ttl,
                &mail,
                now,
            )
            .await?;
        Ok(())
    }

    /// Whether a reset link can still be used (to show the form or an error).
    pub async fn reset_link_valid(&self, org: &Org, token: &str) -> Result<bool, AccountError> {
        let found = self
            .store
            .password_reset(org.id, &crate::secrets::sha256_hex(token))
            .await?;
        Ok(found.is_some_and(|r| r.used_at.is_none() && self.clock.now() < r.expires_at))
    }

    /// Sets the new password with a valid link (once). Every session of the user ends (reason
    /// `password_changed`, apps told); signing in afterwards still asks for the user's second
    /// factor, as the org's MFA policy says.
    pub async fn reset_password(
        &self,
        org: &Org,
        token: &str,
        new_password: &str,
    ) -> Result<ResetOutcome, AccountError> {
        let password = Password::parse(new_password)?;
        let now = self.clock.now();
        let Some(reset) = self
            .store
            .password_reset(org.id, &crate::secrets::sha256_hex(token))
            .await?
            .filter(|r| r.used_at.is_none() && now < r.expires_at)
        else {
            return Ok(ResetOutcome::InvalidLink);
        };
        let hash = self.hasher.hash(&password).await?;
        if !self.store.use_password_reset(org.id, reset.id, now).await? {
            return Ok(ResetOutcome::InvalidLink);
        }
        let notice = self.store.user_by_id(org.id, reset.user_id).await?.map(|u| {
            crate::email::OutgoingEmail::notice(
                &org.name,
                u.email.as_str(),
                "your password was changed",
                &format!("The password of your {} account was changed with a reset link, and you were signed out everywhere.", org.name),
            )
        });
        self.store
            .set_user_password_hash(
                org.id,
                reset.user_id,
                &hash,
                Some(&format!("user:{} (reset link)", reset.user_id)),
                notice.as_ref(),
                now,
            )
            .await?;
        self.sessions
            .end_user_sessions(
                org.id,
                reset.user_id,
                None,
                EndReason::PasswordChanged,
                &format!("user:{}", reset.user_id),
            )
            .await?;
        Ok(ResetOutcome::Done)
    }

    /// Disables (ending every session of the user, reason `user_disabled`) or re-enables a user.
    pub async fn set_active(
        &self,
        org: &Org,
        email: &str,
        active: bool,
        actor: &str,
    ) -> Result<User, AccountError> {
        let email = EmailAddress::parse(email)?;
        let user = self
            .store
            .user_by_email(org.id, &email)
            .await?
            .ok_or_else(|| AccountError::UnknownUser(email.as_str().to_owned()))?;
        self.store
            .set_user_active(org.id, user.id, active, actor, self.clock.now())
            .await?;
        if !active {
            self.sessions
                .end_user_sessions(org.id, user.id, None, EndReason::UserDisabled, actor)
                .await?;
        }
        Ok(User { active, ..user })
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Validates everything first, then hashes, then writes user and audit event in one
    /// transaction: a refused request leaves nothing behind.
    pub async fn create_user(
        &self,
        org: &Org,
        req: CreateUser<'_>,
        actor: &str,
    ) -> Result<User, AccountError> {
        let email = EmailAddress::parse(req.email)?;
        let password = req.password.map(Password::parse).transpose()?;
        let name = req
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(AccountError::InvalidName);
        }
        if self.store.user_by_email(org.id, &email).await?.is_some() {
            return Err(AccountError::EmailTaken(email.as_str().to_owned()));
        }
        let password_hash = match &password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let new = NewUser {
            email: email.clone(),
            name,
            password_hash,
            role: req.role,
        };
        match self
            .store
            .create_user(org.id, &new, actor, self.clock.now())
            .await
        {
            Ok(user) => Ok(user),
            Err(StoreError::Conflict) => Err(AccountError::EmailTaken(email.as_str().to_owned())),
            Err(e) => Err(e.into()),
        }
    }
}
