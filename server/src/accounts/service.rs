//! Account rules: creating users (password hashed before anything is written).

use super::error::AccountError;
use super::model::{DisplayName, EmailAddress, NewUser, Password, Role, User, UserId};
use super::password::PasswordHasher;
use crate::clock::SharedClock;
use crate::email::TemplateKind;
use crate::sessions::{EndReason, SessionService};
use crate::store::{EmailLink, LinkAttempt, LinkPurpose, NewEmailLink};
use crate::store::{Store, StoreError};
use crate::tenancy::Org;

#[derive(Debug, Clone)]
pub struct AccountService {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
    sessions: SessionService,
    /// For the per-address quota of messages anyone can trigger.
    email: crate::email::EmailService,
    /// Links in email are built from this only, never from request headers.
    public_url: String,
}

/// Reset links live this long.
pub const PASSWORD_RESET_TTL_MINUTES: i64 = 30;
/// Invitation links live this long.
pub const INVITATION_TTL_DAYS: i64 = 7;
/// Address verification and email change links live this long.
pub const VERIFY_TTL_HOURS: i64 = 24;
/// Tries (each with a password) per address verification link, for the link's whole life.
pub const VERIFY_ATTEMPTS_PER_LINK: i64 = 10;

/// Sign-ups accepted per client IP and org per hour (each costs a password hash); more get a
/// "try later" page, which says nothing about any account.
pub const SIGNUPS_PER_IP_PER_HOUR: i64 = 20;

/// What using a link came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    Done,
    /// Unknown, used, voided (a newer link exists), expired or for another purpose: one
    /// answer for all.
    InvalidLink,
    /// Email change or sign-up: another account of the org has the address now.
    AddressTaken,
    /// Address verification: not the password chosen at sign-up (the link still works).
    WrongPassword,
    /// Address verification: the link's attempts are used up (it stays unusable).
    TooManyAttempts,
}

/// One invitation of an org's hourly quota, taken by `AccountService::reserve_invitation` and
/// spent by `invite_with`.
#[derive(Debug)]
#[must_use = "a reserved invitation is spent by invite_with"]
pub struct InvitationSlot(());

/// A sign-up as typed on the hosted page.
#[derive(Debug, Clone)]
pub struct SignUp<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub password: &'a str,
}

/// A user as requested by the CLI or API, before validation.
#[derive(Debug, Clone)]
pub struct CreateUser<'a> {
    pub email: &'a str,
    pub password: Option<&'a str>,
    pub name: Option<&'a str>,
    pub role: Role,
}

fn new_token() -> Result<String, AccountError> {
    crate::secrets::random_token(32)
        .map_err(|e| AccountError::Store(StoreError::Encoding(e.to_string())))
}

/// A sign-up for an address without an account, checked and its password hashed.
struct NewSignUp {
    email: EmailAddress,
    name: Option<String>,
    hash: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl AccountService {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        clock: SharedClock,
        sessions: SessionService,
        email: crate::email::EmailService,
        public_url: String,
    ) -> Self {
        Self {
            store,
            hasher,
            clock,
            sessions,
            email,
            public_url,
        }
    }

    fn link_url(&self, org: &Org, purpose: LinkPurpose, token: &str) -> String {
        let path = match purpose {
            LinkPurpose::PasswordReset => "password/reset",
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::VerifyEmail => "verify-email",
            LinkPurpose::EmailChange => "email/confirm",
        };
        format!(
            "{}/o/{}/{path}?token={token}",
            self.public_url.trim_end_matches('/'),
            org.slug.as_str()
        )
    }

    /// A fresh link for `user`: its token (the hash is stored; the token only travels in the
    /// message) and the message, made from the org's template. The link is built from the
    /// configured public URL only, never from request headers.
    async fn new_link<'a>(
        &self,
        org: &Org,
        user_email: &EmailAddress,
        purpose: LinkPurpose,
        new_email: Option<&'a EmailAddress>,
    ) -> Result<NewEmailLink<'a>, AccountError> {
        let token = new_token()?;
        let (ttl, valid_for, kind) = match purpose {
            LinkPurpose::PasswordReset => (
                chrono::Duration::minutes(PASSWORD_RESET_TTL_MINUTES),
                format!("{PASSWORD_RESET_TTL_MINUTES} minutes"),
                TemplateKind::PasswordReset,
            ),
            LinkPurpose::Invitation => (
                chrono::Duration::days(INVITATION_TTL_DAYS),
                format!("{INVITATION_TTL_DAYS} days"),
                TemplateKind::Invitation,
            ),
            LinkPurpose::VerifyEmail => (
                chrono::Duration::hours(VERIFY_TTL_HOURS),
                format!("{VERIFY_TTL_HOURS} hours"),
                TemplateKind::VerifyEmail,
            ),
            LinkPurpose::EmailChange => (
                chrono::Duration::hours(VERIFY_TTL_HOURS),
                format!("{VERIFY_TTL_HOURS} hours"),
                TemplateKind::EmailChange,
            ),
        };
        let link = self.link_url(org, purpose, &token);
        // An email change is confirmed at the new address; everything else goes to the user's.
        let to = new_email.unwrap_or(user_email).as_str();
        let email = crate::email::compose(
            &self.store,
            org,
            kind,
            to,
            &[("link", &link), ("valid_for", &valid_for)],
        )
        .await?;
        Ok(NewEmailLink {
            purpose,
            token_hash: crate::secrets::sha256_hex(&token),
            new_email: new_email.map(EmailAddress::as_str),
            expires_at: self.clock.now() + ttl,
            email,
        })
    }

    /// Makes a link of `purpose` for `user` and stores it with its message (voiding the user's
    /// older ones of the purpose) and the audit event `action`.
    async fn send_link(
        &self,
        org: &Org,
        user: &User,
        purpose: LinkPurpose,
        new_email: Option<&EmailAddress>,
        action: &'static str,
        actor: &str,
    ) -> Result<(), AccountError> {
        let link = self.new_link(org, &user.email, purpose, new_email).await?;
        self.store
            .create_email_link(org.id, user.id, &link, action, actor, self.clock.now())
            .await?;
        Ok(())
    }

    /// A link anyone can ask for through a form: sent only to an active account of this
    /// address whose verification state is `verified`, within the address's mail quota; the
    /// same silent `Ok` otherwise.
    async fn send_link_on_request(
        &self,
        org: &Org,
        email: &str,
        verified: bool,
        purpose: LinkPurpose,
        action: &'static str,
        ip: &str,
    ) -> Result<(), AccountError> {
        let Ok(email) = EmailAddress::parse(email) else {
            return Ok(());
        };
        // Past a limit the request is dropped silently, like an unknown address: the page
        // answers the same and reveals nothing about accounts.
        if !self.email.link_request_allowed(org.id, ip).await {
            return Ok(());
        }
        let Some(user) = self
            .store
            .user_by_email(org.id, &email)
            .await?
            .filter(|u| u.active && u.email_verified_at.is_some() == verified)
        else {
            return Ok(());
        };
        if !self
            .email
            .unprompted_allowed(org.id, user.email.as_str())
            .await
        {
            return Ok(());
        }
        if !self.email.link_mail_allowed(org.id).await {
            return Ok(());
        }
        let actor = format!("user:{}", user.id);
        self.send_link(org, &user, purpose, None, action, &actor)
            .await
    }

    /// "Forgot password": for an active user of this org whose address is verified, a
    /// single-use link (valid 30 minutes, the user's older links voided) goes out through the
    /// email outbox. Unknown and unverified addresses get the same (silent) answer: an
    /// unverified address may not be the user's. Limited per client `ip` and per org
    /// (`email.link_*_per_hour`), silently as well.
    pub async fn request_password_reset(
        &self,
        org: &Org,
        email: &str,
        ip: &str,
    ) -> Result<(), AccountError> {
        self.send_link_on_request(
            org,
            email,
            true,
            LinkPurpose::PasswordReset,
            "password.reset_requested",
            ip,
        )
        .await
    }

    /// Takes one invitation from the org's hourly quota (`InvitationQuota` once it is used
    /// up), before anything is created or sent.
    pub async fn reserve_invitation(&self, org: &Org) -> Result<InvitationSlot, AccountError> {
        if self.email.invitation_allowed(org.id).await {
            Ok(InvitationSlot(()))
        } else {
            Err(AccountError::InvitationQuota(
                self.email.invitations_per_hour(),
            ))
        }
    }

    /// An admin invites a user: a link (valid 7 days) to set up the account with a password or
    /// a passkey, through the outbox. Sending it again voids the previous link. Counts in the
    /// org's hourly invitation quota.
    pub async fn invite(&self, org: &Org, user: &User, actor: &str) -> Result<(), AccountError> {
        let slot = self.reserve_invitation(org).await?;
        self.invite_with(org, user, actor, slot).await
    }

    /// `invite` with a slot reserved beforehand (so a refused invitation creates no user).
    pub async fn invite_with(
        &self,
        org: &Org,
        user: &User,
        actor: &str,
        _slot: InvitationSlot,
    ) -> Result<(), AccountError> {
        self.send_link(
            org,
            user,
            LinkPurpose::Invitation,
            None,
            "user.invited",
            actor,
        )
        .await
    }

    /// Sign-up on the hosted page (the caller checks the org allows it). The answer is the same
    /// whether or not the address has an account, and sign-up never changes an existing one:
    /// - a new address, where the org requires a verified address: nothing is created yet; the
    ///   sign-up waits (hashed password and all) for its link, which creates the account when
    ///   used with the same password (so neither a squatter without the mailbox nor the mailbox
    ///   owner without the squatter's password can complete someone else's sign-up);
    /// - a new address elsewhere: an unverified account at once, and a verification link;
    /// - an unverified account (an invitee, or an earlier sign-up): a link to set it up, which
    ///   replaces whatever was set before (whoever set it never proved the address);
    /// - a verified account: its owner gets a note that someone tried.
    ///
    /// The password is hashed in every case; the pages add a minimum answer time on top.
    pub async fn sign_up(&self, org: &Org, req: SignUp<'_>) -> Result<(), AccountError> {
        let email = EmailAddress::parse(req.email)?;
        let password = Password::parse(req.password)?;
        let name = req.name.map(DisplayName::parse).transpose()?.flatten();
        let name = name.map(DisplayName::into_string);
        let hash = self.hasher.hash(&password).await?;
        let now = self.clock.now();
        let existing = self.store.user_by_email(org.id, &email).await?;
        // Every branch but a disabled account's sends a message to the address.
        if existing.as_ref().is_none_or(|u| u.active)
            && !self.email.unprompted_allowed(org.id, email.as_str()).await
        {
            return Ok(());
        }
        let signup = NewSignUp {
            email,
            name,
            hash,
            now,
        };
        match existing {
            None if org.signup.require_verified_email => self.sign_up_pending(org, signup).await,
            None => self.sign_up_unverified(org, signup).await,
            Some(user) if user.active && user.email_verified_at.is_none() => {
                self.send_link(
                    org,
                    &user,
                    LinkPurpose::Invitation,
                    None,
                    "user.setup_link_sent",
                    "anonymous (sign-up)",
                )
                .await
            }
            Some(user) if user.active => self.note_signup_attempt(org, &user, now).await,
            Some(_) => Ok(()),
        }
    }

    /// A sign-up waiting for its link: nothing is created until the link is used.
    async fn sign_up_pending(&self, org: &Org, signup: NewSignUp) -> Result<(), AccountError> {
        let link = self
            .new_link(org, &signup.email, LinkPurpose::VerifyEmail, None)
            .await?;
        self.store
            .create_pending_signup(
                org.id,
                &signup.email,
                signup.name.as_deref(),
                &signup.hash,
                &link.token_hash,
                link.expires_at,
                &link.email,
                signup.now,
            )
            .await?;
        Ok(())
    }

    /// An unverified account at once, and a verification link.
    async fn sign_up_unverified(&self, org: &Org, signup: NewSignUp) -> Result<(), AccountError> {
        let link = self
            .new_link(org, &signup.email, LinkPurpose::VerifyEmail, None)
            .await?;
        let new = NewUser {
            email: signup.email,
            name: signup.name,
            password_hash: Some(signup.hash),
            role: Role::Member,
            email_verified: false,
        };
        match self
            .store
            .sign_up_user(org.id, &new, &link, signup.now)
            .await
        {
            // Two sign-ups with one address at once: the other one won.
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A sign-up with the address of a verified account: its owner gets a note that someone
    /// tried, with the way to a new password.
    async fn note_signup_attempt(
        &self,
        org: &Org,
        user: &User,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AccountError> {
        let forgot = format!(
            "{}/o/{}/password/forgot",
            self.public_url.trim_end_matches('/'),
            org.slug.as_str()
        );
        let mail = crate::email::compose(
            &self.store,
            org,
            TemplateKind::SignupExisting,
            user.email.as_str(),
            &[("link", &forgot), ("valid_for", "")],
        )
        .await?;
        self.store.queue_email(org.id, &mail, now).await?;
        Ok(())
    }

    /// Sends a new verification link to an active, unverified account with this address; the
    /// same silent answer otherwise, and past the per-IP and per-org limits.
    pub async fn resend_verification(
        &self,
        org: &Org,
        email: &str,
        ip: &str,
    ) -> Result<(), AccountError> {
        self.send_link_on_request(
            org,
            email,
            false,
            LinkPurpose::VerifyEmail,
            "user.verification_sent",
            ip,
        )
        .await
    }

    /// The live link of `purpose` behind `token` (unused, unexpired, this org), if any.
    pub async fn link(
        &self,
        org: &Org,
        token: &str,
        purpose: LinkPurpose,
    ) -> Result<Option<EmailLink>, AccountError> {
        let now = self.clock.now();
        Ok(self
            .store
            .email_link(org.id, &crate::secrets::sha256_hex(token))
            .await?
            .filter(|l| l.purpose == purpose && l.used_at.is_none() && now < l.expires_at))
    }

    /// Changes a user's name (`Some("")`: no name) or role; every node sees it from the next
    /// request.
    pub async fn update_profile(
        &self,
        org: &Org,
        user: UserId,
        name: Option<&str>,
        role: Option<Role>,
        actor: &str,
    ) -> Result<(), AccountError> {
        let name = name
            .map(DisplayName::parse)
            .transpose()?
            .map(|n| n.map(DisplayName::into_string));
        let now = self.clock.now();
        self.store
            .update_user(org.id, user, name, role, actor, now)
            .await?;
        self.sessions.user_changed(org.id, user).await;
        Ok(())
    }

    /// A user of the org by id.
    pub async fn user(&self, org: &Org, id: UserId) -> Result<Option<User>, AccountError> {
        Ok(self.store.user_by_id(org.id, id).await?)
    }

    /// The live invitation link behind `token`, and the user it invites.
    pub async fn invitation(
        &self,
        org: &Org,
        token: &str,
    ) -> Result<Option<(EmailLink, User)>, AccountError> {
        let Some(link) = self.link(org, token, LinkPurpose::Invitation).await? else {
            return Ok(None);
        };
        Ok(self.user(org, link.user_id).await?.map(|u| (link, u)))
    }

    /// Whether a reset link can still be used (to show the form or an error).
    pub async fn reset_link_valid(&self, org: &Org, token: &str) -> Result<bool, AccountError> {
        Ok(self
            .link(org, token, LinkPurpose::PasswordReset)
            .await?
            .is_some())
    }

    /// Sets the new password with a valid reset link (once). Every session of the user ends
    /// (reason `password_changed`, apps told); signing in afterwards still asks for the user's
    /// second factor, as the org's MFA policy says.
    pub async fn reset_password(
        &self,
        org: &Org,
        token: &str,
        new_password: &str,
    ) -> Result<ResetOutcome, AccountError> {
        self.set_password_with_link(org, token, LinkPurpose::PasswordReset, new_password)
            .await
    }

    /// The invitee chooses their password with the invitation link (once); their address counts
    /// as verified from now.
    pub async fn accept_invitation(
        &self,
        org: &Org,
        token: &str,
        new_password: &str,
    ) -> Result<ResetOutcome, AccountError> {
        self.set_password_with_link(org, token, LinkPurpose::Invitation, new_password)
            .await
    }

    async fn set_password_with_link(
        &self,
        org: &Org,
        token: &str,
        purpose: LinkPurpose,
        new_password: &str,
    ) -> Result<ResetOutcome, AccountError> {
        let password = Password::parse(new_password)?;
        let Some(link) = self.link(org, token, purpose).await? else {
            return Ok(ResetOutcome::InvalidLink);
        };
        let Some(user) = self
            .store
            .user_by_id(org.id, link.user_id)
            .await?
            .filter(|u| u.active)
        else {
            return Ok(ResetOutcome::InvalidLink);
        };
        let hash = self.hasher.hash(&password).await?;
        let now = self.clock.now();
        let notice = match purpose {
            LinkPurpose::PasswordReset => Some(
                crate::email::notice(
                    &self.store,
                    org,
                    user.email.as_str(),
                    "your password was changed",
                    &format!("The password of your {} account was changed with a reset link, and you were signed out everywhere.", org.name),
                )
                .await?,
            ),
            _ => None,
        };
        let actor = match purpose {
            LinkPurpose::Invitation => format!("user:{} (invitation link)", user.id),
            _ => format!("user:{} (reset link)", user.id),
        };
        // An account nobody has verified yet may have been set up by someone without the
        // mailbox: what they set goes.
        let wipe = user.email_verified_at.is_none();
        // The new password and the end of every session commit together.
        let Some(ended) = self
            .store
            .accept_link(
                org.id,
                &link,
                Some(&hash),
                wipe,
                Some(EndReason::PasswordChanged),
                &actor,
                notice.as_ref(),
                now,
            )
            .await?
        else {
            return Ok(ResetOutcome::InvalidLink);
        };
        self.sessions.forget_ended(&ended).await;
        self.sessions.user_changed(org.id, user.id).await;
        Ok(ResetOutcome::Done)
    }

    /// The address a verification link confirms, while the link can be used.
    pub async fn verification_address(
        &self,
        org: &Org,
        token: &str,
    ) -> Result<Option<String>, AccountError> {
        let now = self.clock.now();
        let hash = crate::secrets::sha256_hex(token);
        if let Some(p) = self.store.pending_signup(org.id, &hash).await? {
            return Ok((p.used_at.is_none() && now < p.expires_at).then_some(p.email));
        }
        Ok(
            match self.link(org, token, LinkPurpose::VerifyEmail).await? {
                Some(l) => self
                    .store
                    .user_by_id(org.id, l.user_id)
                    .await?
                    .map(|u| u.email.as_str().to_owned()),
                None => None,
            },
        )
    }

    /// Confirms an address with its link and the password chosen at sign-up, once: a pending
    /// sign-up becomes an account; an unverified account becomes verified. Each try takes one of
    /// the link's `VERIFY_ATTEMPTS_PER_LINK` attempts before the password is checked.
    pub async fn verify_email(
        &self,
        org: &Org,
        token: &str,
        password: &str,
    ) -> Result<ResetOutcome, AccountError> {
        let now = self.clock.now();
        let Ok(password) = Password::for_verification(password) else {
            return Ok(ResetOutcome::WrongPassword);
        };
        let hash = crate::secrets::sha256_hex(token);
        let max_tries = i32::try_from(VERIFY_ATTEMPTS_PER_LINK).unwrap_or(i32::MAX);
        if let Some(pending) = self
            .store
            .pending_signup(org.id, &hash)
            .await?
            .filter(|p| p.used_at.is_none() && now < p.expires_at)
        {
            // Sign-up closed since: the pending ones close with it.
            if org.signup.mode != crate::tenancy::SignupMode::Open {
                return Ok(ResetOutcome::InvalidLink);
            }
            // Reserve, then check: the try counts before the password is looked at.
            if !self
                .store
                .take_link_attempt(org.id, LinkAttempt::PendingSignup(pending.id), max_tries)
                .await?
            {
                return Ok(ResetOutcome::TooManyAttempts);
            }
            if !self
                .hasher
                .verify(&password, &pending.password_hash)
                .await?
            {
                return Ok(ResetOutcome::WrongPassword);
            }
            return Ok(
                match self.store.complete_signup(org.id, &pending, now).await {
                    Ok(Some(_)) => ResetOutcome::Done,
                    Ok(None) => ResetOutcome::InvalidLink,
                    Err(StoreError::Conflict) => ResetOutcome::AddressTaken,
                    Err(e) => return Err(e.into()),
                },
            );
        }
        let Some(link) = self.link(org, token, LinkPurpose::VerifyEmail).await? else {
            return Ok(ResetOutcome::InvalidLink);
        };
        if !self
            .store
            .user_by_id(org.id, link.user_id)
            .await?
            .is_some_and(|u| u.active)
        {
            return Ok(ResetOutcome::InvalidLink);
        }
        if !self
            .store
            .take_link_attempt(org.id, LinkAttempt::Link(link.id), max_tries)
            .await?
        {
            return Ok(ResetOutcome::TooManyAttempts);
        }
        let stored = self.store.user_password_hash(org.id, link.user_id).await?;
        let right = match &stored {
            Some(h) => self.hasher.verify(&password, h).await?,
            None => false,
        };
        if !right {
            return Ok(ResetOutcome::WrongPassword);
        }
        Ok(if self.store.verify_with_link(org.id, &link, now).await? {
            self.sessions.user_changed(org.id, link.user_id).await;
            ResetOutcome::Done
        } else {
            ResetOutcome::InvalidLink
        })
    }

    /// A signed-in user asks to use another address: a link goes to the new address, and
    /// nothing changes until it is used. Whether another account has the address is only
    /// checked then, so this answer tells the requester nothing about other accounts.
    pub async fn request_email_change(
        &self,
        org: &Org,
        user: &User,
        new_email: &str,
    ) -> Result<(), AccountError> {
        let new_email = EmailAddress::parse(new_email)?;
        if new_email == user.email {
            return Err(AccountError::SameEmail);
        }
        if !self
            .email
            .unprompted_allowed(org.id, new_email.as_str())
            .await
        {
            // Quietly: the page says a link was sent, as it does for every request.
            return Ok(());
        }
        self.send_link(
            org,
            user,
            LinkPurpose::EmailChange,
            Some(&new_email),
            "user.email_change_requested",
            &format!("user:{}", user.id),
        )
        .await
    }

    /// Uses an email change link: the account takes the new (now verified) address, and the old
    /// address gets a notice.
    pub async fn confirm_email_change(
        &self,
        org: &Org,
        token: &str,
    ) -> Result<ResetOutcome, AccountError> {
        let Some(link) = self.link(org, token, LinkPurpose::EmailChange).await? else {
            return Ok(ResetOutcome::InvalidLink);
        };
        let (Some(user), Some(new_email)) = (
            self.store
                .user_by_id(org.id, link.user_id)
                .await?
                .filter(|u| u.active),
            link.new_email
                .as_deref()
                .and_then(|e| EmailAddress::parse(e).ok()),
        ) else {
            return Ok(ResetOutcome::InvalidLink);
        };
        let notice = crate::email::notice(
            &self.store,
            org,
            user.email.as_str(),
            "your email address was changed",
            &format!(
                "Your {} account now uses the address {} instead of this one.",
                org.name,
                new_email.as_str()
            ),
        )
        .await?;
        match self
            .store
            .change_user_email(org.id, &link, &new_email, &notice, self.clock.now())
            .await
        {
            Ok(true) => {
                self.sessions.user_changed(org.id, link.user_id).await;
                Ok(ResetOutcome::Done)
            }
            Ok(false) => Ok(ResetOutcome::InvalidLink),
            Err(StoreError::Conflict) => Ok(ResetOutcome::AddressTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The user's links that can still be used (admin view).
    pub async fn pending_links(
        &self,
        org: &Org,
        user: &User,
    ) -> Result<Vec<EmailLink>, AccountError> {
        Ok(self
            .store
            .pending_email_links(org.id, user.id, self.clock.now())
            .await?)
    }

    /// Ends every session of the user (reason `user_deleted`, apps told) and deletes the user,
    /// in one transaction: a session made meanwhile cannot be dropped by the cascade without an
    /// end (and its copies' tombstones).
    pub async fn delete_user(
        &self,
        org: &Org,
        user: UserId,
        actor: &str,
    ) -> Result<(), AccountError> {
        let now = self.clock.now();
        let ended = self.store.delete_user(org.id, user, actor, now).await?;
        self.sessions.forget_ended(&ended).await;
        self.sessions.user_changed(org.id, user).await;
        let event = crate::audit::AuditEvent {
            org_id: org.id,
            actor: actor.to_owned(),
            action: "user.deleted",
            target: Some(user.to_string()),
            details: serde_json::json!({}),
        };
        self.store.record_audit(&event, self.clock.now()).await?;
        Ok(())
    }

    /// Removes the user's keys and recovery codes and ends their sessions (reason `mfa_reset`),
    /// so the next sign-in follows the org's MFA policy from scratch.
    pub async fn reset_mfa(
        &self,
        org: &Org,
        user: UserId,
        actor: &str,
    ) -> Result<(), AccountError> {
        let now = self.clock.now();
        self.store.reset_user_mfa(org.id, user, actor, now).await?;
        self.sessions
            .end_user_sessions(org.id, user, None, EndReason::MfaReset, actor)
            .await?;
        Ok(())
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
        // Disabling and the end of the user's sessions commit together.
        let ended = self
            .store
            .set_user_active(org.id, user.id, active, actor, self.clock.now())
            .await?;
        self.sessions.forget_ended(&ended).await;
        self.sessions.user_changed(org.id, user.id).await;
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
        let name = req.name.map(DisplayName::parse).transpose()?.flatten();
        let name = name.map(DisplayName::into_string);
        if self.store.user_by_email(org.id, &email).await?.is_some() {
            return Err(AccountError::EmailTaken(email.as_str().to_owned()));
        }
        let password_hash = match &password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        self.insert_user(org, email, name, password_hash, req.role, actor)
            .await
    }

    /// `create_user` for a password hashed already (a PHC string at today's parameters):
    /// `serve --demo` seeds its users with the hash of the public demo password, so a start
    /// runs no argon2 (whose 19 MiB buffer glibc would keep resident).
    pub async fn create_user_with_hash(
        &self,
        org: &Org,
        email: &str,
        phc: &str,
        role: Role,
        actor: &str,
    ) -> Result<User, AccountError> {
        let email = EmailAddress::parse(email)?;
        if PasswordHasher::needs_rehash(phc)
            || argon2::password_hash::PasswordHash::new(phc).is_err()
        {
            return Err(AccountError::Hash(super::password::HashError::Hash(
                "a stored password hash must be argon2id at today's parameters".into(),
            )));
        }
        if self.store.user_by_email(org.id, &email).await?.is_some() {
            return Err(AccountError::EmailTaken(email.as_str().to_owned()));
        }
        self.insert_user(org, email, None, Some(phc.to_owned()), role, actor)
            .await
    }

    async fn insert_user(
        &self,
        org: &Org,
        email: EmailAddress,
        name: Option<String>,
        password_hash: Option<String>,
        role: Role,
        actor: &str,
    ) -> Result<User, AccountError> {
        let new = NewUser {
            email: email.clone(),
            name,
            // An admin who sets the password vouches for the address; an invitee proves it by
            // using the invitation link.
            email_verified: password_hash.is_some(),
            password_hash,
            role,
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
