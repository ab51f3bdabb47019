//! The email outbox and emailed single-use links (reset, invitation, verification, email
//! change). Org-owned rows are scoped by org id; the
//! worker's claim looks across orgs.

use super::entities::{
    consents, email_links, email_outbox, email_templates, pending_signups, recovery_codes, users,
    webauthn_credentials,
};
use super::outbox::{Claim, Outbox};
use super::{Store, StoreError, insert_audit};
use crate::accounts::{EmailAddress, NewUser, User, UserId};
use crate::audit::AuditEvent;
use crate::email::{OutgoingEmail, QueuedEmail, Template, TemplateKind};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

pub use crate::accounts::LinkPurpose;

impl LinkPurpose {
    fn from_db(raw: &str) -> Option<Self> {
        [
            Self::PasswordReset,
            Self::Invitation,
            Self::VerifyEmail,
            Self::EmailChange,
        ]
        .into_iter()
        .find(|p| p.as_str() == raw)
    }
}

/// A stored link (its token only as a hash).
#[derive(Debug, Clone)]
pub struct EmailLink {
    pub id: Uuid,
    pub user_id: UserId,
    pub purpose: LinkPurpose,
    /// The address an email change confirms.
    pub new_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A link to store with the message that carries it.
#[derive(Debug, Clone)]
pub struct NewEmailLink<'a> {
    pub purpose: LinkPurpose,
    pub token_hash: String,
    pub new_email: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    pub email: OutgoingEmail,
}

/// The row whose attempts a guess uses.
#[derive(Debug, Clone, Copy)]
pub enum LinkAttempt {
    Link(Uuid),
    PendingSignup(Uuid),
}

/// A sign-up waiting for its address to be confirmed (orgs that require a verified address).
#[derive(Debug, Clone)]
pub struct PendingSignup {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

fn to_link(m: email_links::Model) -> Option<EmailLink> {
    Some(EmailLink {
        id: m.id,
        user_id: UserId(m.user_id),
        purpose: LinkPurpose::from_db(&m.purpose)?,
        new_email: m.new_email,
        created_at: m.created_at,
        expires_at: m.expires_at,
        used_at: m.used_at,
    })
}

/// Voids the user's live links of the same purpose, stores the new one and queues its message.
async fn insert_link<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user: UserId,
    link: &NewEmailLink<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    email_links::Entity::update_many()
        .col_expr(email_links::Column::UsedAt, Expr::value(now))
        .filter(email_links::Column::OrgId.eq(org.0))
        .filter(email_links::Column::UserId.eq(user.0))
        .filter(email_links::Column::Purpose.eq(link.purpose.as_str()))
        .filter(email_links::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    email_links::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.0),
        user_id: Set(user.0),
        token_hash: Set(link.token_hash.clone()),
        created_at: Set(now),
        expires_at: Set(link.expires_at),
        used_at: Set(None),
        purpose: Set(link.purpose.as_str().to_owned()),
        new_email: Set(link.new_email.map(str::to_owned)),
        attempts: Set(0),
    }
    .insert(conn)
    .await?;
    queue_email(conn, org, &link.email, now).await
}

/// Marks a link used inside `conn`; true only for the one request that used it.
async fn take_link<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(email_links::Entity::update_many()
        .col_expr(email_links::Column::UsedAt, Expr::value(now))
        .filter(email_links::Column::OrgId.eq(org.0))
        .filter(email_links::Column::Id.eq(id))
        .filter(email_links::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}

async fn set_verified<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    users::Entity::update_many()
        .col_expr(users::Column::EmailVerifiedAt, Expr::value(now))
        .filter(users::Column::OrgId.eq(org.0))
        .filter(users::Column::Id.eq(user.0))
        .filter(users::Column::EmailVerifiedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

pub(super) async fn queue_email<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    email: &OutgoingEmail,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    email_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.0),
        to_address: Set(email.to.clone()),
        subject: Set(email.subject.clone()),
        text_body: Set(email.text.clone()),
        html_body: Set(email.html.clone()),
        status: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

fn to_queued(m: email_outbox::Model) -> QueuedEmail {
    QueuedEmail {
        id: m.id,
        org_id: OrgId(m.org_id),
        email: OutgoingEmail {
            to: m.to_address,
            subject: m.subject,
            text: m.text_body,
            html: m.html_body,
        },
        status: m.status,
        attempts: m.attempts,
        last_error: m.last_error,
    }
}

impl Store {
    /// Stores a link for `user` (voiding their older ones of the same purpose) and queues its
    /// message, in one transaction with the audit event `action`.
    pub async fn create_email_link(
        &self,
        org: OrgId,
        user: UserId,
        link: &NewEmailLink<'_>,
        action: &'static str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        insert_link(&txn, org, user, link, now).await?;
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action,
            target: Some(user.to_string()),
            details: serde_json::json!({ "purpose": link.purpose.as_str() }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Queues one message on its own (when no other change goes with it).
    pub async fn queue_email(
        &self,
        org: OrgId,
        email: &OutgoingEmail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        queue_email(&self.db, org, email, now).await
    }

    /// Sign-up: the new (unverified) user, their verification link and its message, in one
    /// transaction.
    pub async fn sign_up_user(
        &self,
        org: OrgId,
        new: &NewUser,
        link: &NewEmailLink<'_>,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let txn = self.begin_write().await?;
        let user = super::users::insert_user(&txn, org, new, "anonymous (sign-up)", now).await?;
        insert_link(&txn, org, user.id, link, now).await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Stores a sign-up until its address is confirmed and queues the message with its link.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_pending_signup(
        &self,
        org: OrgId,
        email: &EmailAddress,
        name: Option<&str>,
        password_hash: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        mail: &OutgoingEmail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Earlier pending sign-ups for the address stay usable (each with its own password), so
        // nobody can void someone else's by signing up again; the first one used wins.
        let txn = self.begin_write().await?;
        pending_signups::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org.0),
            email: Set(email.as_str().to_owned()),
            name: Set(name.map(str::to_owned)),
            password_hash: Set(password_hash.to_owned()),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            attempts: Set(0),
        }
        .insert(&txn)
        .await?;
        queue_email(&txn, org, mail, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A pending sign-up by its token hash, in this org only.
    pub async fn pending_signup(
        &self,
        org: OrgId,
        token_hash: &str,
    ) -> Result<Option<PendingSignup>, StoreError> {
        Ok(pending_signups::Entity::find()
            .filter(pending_signups::Column::OrgId.eq(org.0))
            .filter(pending_signups::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(|m| PendingSignup {
                id: m.id,
                email: m.email,
                name: m.name,
                password_hash: m.password_hash,
                expires_at: m.expires_at,
                used_at: m.used_at,
            }))
    }

    /// Uses a pending sign-up once and creates its (verified) user, in one transaction.
    /// `Ok(None)` when it was used meanwhile; `Conflict` when the address has an account now.
    pub async fn complete_signup(
        &self,
        org: OrgId,
        pending: &PendingSignup,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let email =
            EmailAddress::parse(&pending.email).map_err(|e| StoreError::Encoding(e.to_string()))?;
        let txn = self.begin_write().await?;
        let taken = pending_signups::Entity::update_many()
            .col_expr(pending_signups::Column::UsedAt, Expr::value(now))
            .filter(pending_signups::Column::OrgId.eq(org.0))
            .filter(pending_signups::Column::Id.eq(pending.id))
            .filter(pending_signups::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !taken {
            return Ok(None);
        }
        let exists = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&txn)
            .await?
            .is_some();
        if exists {
            return Err(StoreError::Conflict);
        }
        pending_signups::Entity::update_many()
            .col_expr(pending_signups::Column::UsedAt, Expr::value(now))
            .filter(pending_signups::Column::OrgId.eq(org.0))
            .filter(pending_signups::Column::Email.eq(email.as_str()))
            .filter(pending_signups::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        let new = NewUser {
            email,
            name: pending.name.clone(),
            password_hash: Some(pending.password_hash.clone()),
            role: crate::accounts::Role::Member,
            email_verified: true,
        };
        let user = super::users::insert_user(&txn, org, &new, "anonymous (sign-up)", now).await?;
        txn.commit().await?;
        Ok(Some(user))
    }

    /// Uses a link that sets up the account (invitation, or a reset): once, in one transaction
    /// with its effects. The address counts as verified. With `wipe` (the account was not
    /// verified: whoever set it up before never proved the address), its keys, recovery codes,
    /// consents, display name and password go first. `password_hash` is the new password (None: a passkey follows).
    /// With `end_sessions`, every session of the user ends in the same transaction (with that
    /// reason, outliving app sessions included). `None` when the link could not be taken; else
    /// the sessions it ended.
    #[allow(clippy::too_many_arguments)]
    pub async fn accept_link(
        &self,
        org: OrgId,
        link: &EmailLink,
        password_hash: Option<&str>,
        wipe: bool,
        end_sessions: Option<crate::sessions::EndReason>,
        actor: &str,
        notice: Option<&OutgoingEmail>,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<crate::sessions::Session>>, StoreError> {
        let user = link.user_id;
        let txn = self.begin_write().await?;
        if !take_link(&txn, org, link.id, now).await? {
            return Ok(None);
        }
        if wipe {
            webauthn_credentials::Entity::delete_many()
                .filter(webauthn_credentials::Column::OrgId.eq(org.0))
                .filter(webauthn_credentials::Column::UserId.eq(user.0))
                .exec(&txn)
                .await?;
            recovery_codes::Entity::delete_many()
                .filter(recovery_codes::Column::OrgId.eq(org.0))
                .filter(recovery_codes::Column::UserId.eq(user.0))
                .exec(&txn)
                .await?;
            // Whatever the earlier holder allowed third-party apps, and the name they chose.
            consents::Entity::delete_many()
                .filter(consents::Column::OrgId.eq(org.0))
                .filter(consents::Column::UserId.eq(user.0))
                .exec(&txn)
                .await?;
            users::Entity::update_many()
                .col_expr(users::Column::Name, Expr::value(Option::<String>::None))
                .filter(users::Column::OrgId.eq(org.0))
                .filter(users::Column::Id.eq(user.0))
                .exec(&txn)
                .await?;
        }
        if wipe || password_hash.is_some() {
            users::Entity::update_many()
                .col_expr(
                    users::Column::PasswordHash,
                    Expr::value(password_hash.map(str::to_owned)),
                )
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(users::Column::OrgId.eq(org.0))
                .filter(users::Column::Id.eq(user.0))
                .exec(&txn)
                .await?;
        }
        set_verified(&txn, org, user, now).await?;
        if let Some(mail) = notice {
            queue_email(&txn, org, mail, now).await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: if password_hash.is_some() {
                "user.password_changed"
            } else {
                "user.link_used"
            },
            target: Some(user.to_string()),
            details: serde_json::json!({ "purpose": link.purpose.as_str(), "reset_earlier_credentials": wipe }),
        };
        insert_audit(&txn, &event, now).await?;
        let ended = match end_sessions {
            Some(reason) => {
                super::sessions::end_sessions_in(&txn, org, Some(user), None, reason, actor, now)
                    .await?
            }
            None => Vec::new(),
        };
        txn.commit().await?;
        Ok(Some(ended))
    }

    /// Takes one attempt of a link used with a password (an address verification link, or a
    /// pending sign-up's), before the password is checked: one conditional update, so of
    /// parallel requests only `max` ever get one, across nodes. False once they are used up.
    pub async fn take_link_attempt(
        &self,
        org: OrgId,
        link: LinkAttempt,
        max: i32,
    ) -> Result<bool, StoreError> {
        use sea_orm::sea_query::ExprTrait as _;
        let taken = match link {
            LinkAttempt::Link(id) => {
                email_links::Entity::update_many()
                    .col_expr(
                        email_links::Column::Attempts,
                        Expr::col(email_links::Column::Attempts).add(1),
                    )
                    .filter(email_links::Column::OrgId.eq(org.0))
                    .filter(email_links::Column::Id.eq(id))
                    .filter(email_links::Column::Attempts.lt(max))
                    .exec(&self.db)
                    .await?
            }
            LinkAttempt::PendingSignup(id) => {
                pending_signups::Entity::update_many()
                    .col_expr(
                        pending_signups::Column::Attempts,
                        Expr::col(pending_signups::Column::Attempts).add(1),
                    )
                    .filter(pending_signups::Column::OrgId.eq(org.0))
                    .filter(pending_signups::Column::Id.eq(id))
                    .filter(pending_signups::Column::Attempts.lt(max))
                    .exec(&self.db)
                    .await?
            }
        };
        Ok(taken.rows_affected == 1)
    }

    /// A link by its token hash, in this org only.
    pub async fn email_link(
        &self,
        org: OrgId,
        token_hash: &str,
    ) -> Result<Option<EmailLink>, StoreError> {
        Ok(email_links::Entity::find()
            .filter(email_links::Column::OrgId.eq(org.0))
            .filter(email_links::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .and_then(to_link))
    }

    /// The user's links that can still be used (admin view), newest first.
    pub async fn pending_email_links(
        &self,
        org: OrgId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<EmailLink>, StoreError> {
        Ok(email_links::Entity::find()
            .filter(email_links::Column::OrgId.eq(org.0))
            .filter(email_links::Column::UserId.eq(user.0))
            .filter(email_links::Column::UsedAt.is_null())
            .filter(email_links::Column::ExpiresAt.gt(now))
            .order_by_desc(email_links::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(to_link)
            .collect())
    }

    /// Links of the org's users among `users` (a page of them) that can still be used, newest
    /// first; one query.
    pub async fn pending_email_links_of(
        &self,
        org: OrgId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<Vec<EmailLink>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        Ok(email_links::Entity::find()
            .filter(email_links::Column::OrgId.eq(org.0))
            .filter(email_links::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .filter(email_links::Column::UsedAt.is_null())
            .filter(email_links::Column::ExpiresAt.gt(now))
            .order_by_desc(email_links::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(to_link)
            .collect())
    }

    /// Uses an address verification link once: the user's address counts as verified from
    /// now, in the same transaction. True only for the one request that used it.
    pub async fn verify_with_link(
        &self,
        org: OrgId,
        link: &EmailLink,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        if !take_link(&txn, org, link.id, now).await? {
            return Ok(false);
        }
        set_verified(&txn, org, link.user_id, now).await?;
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{}", link.user_id),
            action: "user.email_verified",
            target: Some(link.user_id.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Confirms an email change with its link: the user's address becomes the link's (verified
    /// now) and the notice goes to the old address, in one transaction. `Conflict` when another
    /// user of the org has taken the address meanwhile (the link stays unused).
    pub async fn change_user_email(
        &self,
        org: OrgId,
        link: &EmailLink,
        new_email: &EmailAddress,
        notice: &OutgoingEmail,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let taken = users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Email.eq(new_email.as_str()))
            .filter(users::Column::Id.ne(link.user_id.0))
            .one(&txn)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict);
        }
        if !take_link(&txn, org, link.id, now).await? {
            return Ok(false);
        }
        let changed = users::Entity::update_many()
            .col_expr(users::Column::Email, Expr::value(new_email.as_str()))
            .col_expr(users::Column::EmailVerifiedAt, Expr::value(now))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(link.user_id.0))
            .exec(&txn)
            .await;
        match changed {
            Ok(r) if r.rows_affected == 1 => {}
            Ok(_) => return Ok(false),
            // The unique index (org, email) may catch a concurrent taker (`Conflict`).
            Err(e) => return Err(e.into()),
        }
        // Links sent to the old address stop working.
        email_links::Entity::update_many()
            .col_expr(email_links::Column::UsedAt, Expr::value(now))
            .filter(email_links::Column::OrgId.eq(org.0))
            .filter(email_links::Column::UserId.eq(link.user_id.0))
            .filter(email_links::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        queue_email(&txn, org, notice, now).await?;
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{}", link.user_id),
            action: "user.email_changed",
            target: Some(link.user_id.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// The org's own template of `kind`, if it set one.
    pub async fn email_template(
        &self,
        org: OrgId,
        kind: TemplateKind,
    ) -> Result<Option<Template>, StoreError> {
        Ok(
            email_templates::Entity::find_by_id((org.0, kind.as_str().to_owned()))
                .one(&self.db)
                .await?
                .map(|m| Template {
                    subject: m.subject,
                    text: m.text_body,
                    html: m.html_body,
                }),
        )
    }

    /// Stores the org's template of `kind`, or with `None` goes back to the built-in one, with
    /// an audit event.
    pub async fn set_email_template(
        &self,
        org: OrgId,
        kind: TemplateKind,
        template: Option<&Template>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        email_templates::Entity::delete_many()
            .filter(email_templates::Column::OrgId.eq(org.0))
            .filter(email_templates::Column::Kind.eq(kind.as_str()))
            .exec(&txn)
            .await?;
        if let Some(t) = template {
            email_templates::ActiveModel {
                org_id: Set(org.0),
                kind: Set(kind.as_str().to_owned()),
                subject: Set(t.subject.clone()),
                text_body: Set(t.text.clone()),
                html_body: Set(t.html.clone()),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: if template.is_some() {
                "email_template.set"
            } else {
                "email_template.reset"
            },
            target: Some(kind.as_str().to_owned()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Takes up to `limit` due messages until `lease_until`, the longest due first: no two
    /// workers send the same message at once (`Store::claim_due`). The attempt is counted when
    /// it is recorded (`finish_email`).
    pub async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let outbox = Outbox::<email_outbox::Entity> {
            id: email_outbox::Column::Id,
            status: email_outbox::Column::Status,
            pending: "pending",
            next_attempt_at: email_outbox::Column::NextAttemptAt,
            claimed_until: email_outbox::Column::ClaimedUntil,
            attempts_on_claim: None,
        };
        let claim = Claim {
            among: None,
            now,
            lease_until,
            limit,
            token: None,
        };
        let taken = self.claim_due(&outbox, claim).await?;
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        Ok(email_outbox::Entity::find()
            .filter(email_outbox::Column::Id.is_in(taken))
            .order_by_asc(email_outbox::Column::NextAttemptAt)
            .order_by_asc(email_outbox::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_queued)
            .collect())
    }

    /// Records a send attempt: sent (`error` None), retry at `next`, or failed for good.
    pub async fn finish_email(
        &self,
        e: &QueuedEmail,
        error: Option<&str>,
        next: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = match (error, next) {
            (None, _) => "sent",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "failed",
        };
        let mut row = email_outbox::ActiveModel {
            id: Set(e.id),
            ..Default::default()
        };
        row.status = Set(status.to_owned());
        row.attempts = Set(e.attempts + 1);
        row.claimed_until = Set(None);
        row.last_error = Set(error.map(|m| m.chars().take(500).collect()));
        if let Some(next) = next {
            row.next_attempt_at = Set(next);
        }
        if error.is_none() {
            row.sent_at = Set(Some(now));
        }
        row.update(&self.db).await?;
        Ok(())
    }

    /// The org's queued and sent messages, newest first (tests, admin views).
    pub async fn emails(&self, org: OrgId) -> Result<Vec<QueuedEmail>, StoreError> {
        Ok(email_outbox::Entity::find()
            .filter(email_outbox::Column::OrgId.eq(org.0))
            .order_by_desc(email_outbox::Column::CreatedAt)
            .order_by_desc(email_outbox::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_queued)
            .collect())
    }
}
