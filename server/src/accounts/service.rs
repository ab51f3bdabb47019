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
    ) -> Self {
        Self {
            store,
            hasher,
            clock,
            sessions,
        }
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
