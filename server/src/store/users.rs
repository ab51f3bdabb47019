//! User rows. Every query is scoped by org id.

use super::entities::users;
use super::{Store, StoreError, insert_audit};
use crate::accounts::{EmailAddress, NewUser, Role, User, UserId};
use crate::audit::AuditEvent;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

pub(super) fn to_user(m: users::Model) -> Result<User, StoreError> {
    let email = EmailAddress::parse(&m.email).map_err(|e| StoreError::Encoding(e.to_string()))?;
    Ok(User {
        id: UserId(m.id),
        org_id: OrgId(m.org_id),
        email,
        name: m.name,
        role: Role::from_db(&m.role),
        active: m.status == "active",
        created_at: m.created_at,
        email_verified_at: m.email_verified_at,
    })
}

/// Inserts a user and its `user.created` audit event inside `conn`.
pub(super) async fn insert_user<C: sea_orm::ConnectionTrait>(
    conn: &C,
    org: OrgId,
    new: &NewUser,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let id = Uuid::now_v7();
    let model = users::ActiveModel {
        id: Set(id),
        org_id: Set(org.0),
        email: Set(new.email.as_str().to_owned()),
        name: Set(new.name.clone()),
        password_hash: Set(new.password_hash.clone()),
        role: Set(new.role.as_str().to_owned()),
        status: Set("active".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        email_verified_at: Set(new.email_verified.then_some(now)),
    }
    .insert(conn)
    .await?;
    let event = AuditEvent {
        org_id: org,
        actor: actor.to_owned(),
        action: "user.created",
        target: Some(id.to_string()),
        details: serde_json::json!({ "role": new.role.as_str() }),
    };
    insert_audit(conn, &event, now).await?;
    to_user(model)
}

impl Store {
    /// Inserts a user and its audit event in one transaction; `Conflict` if the email is taken
    /// in this org.
    pub async fn create_user(
        &self,
        org: OrgId,
        new: &NewUser,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let txn = self.begin_write().await?;
        let user = insert_user(&txn, org, new, actor, now).await?;
        txn.commit().await?;
        Ok(user)
    }

    pub async fn user_by_id(&self, org: OrgId, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .one(&self.db)
            .await?
            .map(to_user)
            .transpose()
    }

    pub async fn user_by_email(
        &self,
        org: OrgId,
        email: &EmailAddress,
    ) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .map(to_user)
            .transpose()
    }

    /// The stored password hash of a user of this org, if any.
    pub async fn user_password_hash(
        &self,
        org: OrgId,
        id: UserId,
    ) -> Result<Option<String>, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .one(&self.db)
            .await?
            .and_then(|m| m.password_hash))
    }

    /// Replaces a user's password hash, with a `user.password_changed` audit event unless
    /// `audit` is false (a transparent re-hash at sign-in is not a change).
    pub async fn set_user_password_hash(
        &self,
        org: OrgId,
        id: UserId,
        hash: &str,
        audit: Option<&str>,
        notice: Option<&crate::email::OutgoingEmail>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change_password_hash(org, id, hash, audit, notice, None, now)
            .await
            .map(|_| ())
    }

    /// Sets the password hash and, with `end_others`, ends the user's other sessions (all but
    /// the one given) in the same transaction: the new password and the sign-out commit together
    /// or not at all. Returns the sessions it ended.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_password_hash(
        &self,
        org: OrgId,
        id: UserId,
        hash: &str,
        audit: Option<&str>,
        notice: Option<&crate::email::OutgoingEmail>,
        end_others: Option<crate::sessions::SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::sessions::Session>, StoreError> {
        let txn = self.begin_write().await?;
        if let Some(mail) = notice {
            super::email::queue_email(&txn, org, mail, now).await?;
        }
        let result = users::Entity::update_many()
            .col_expr(
                users::Column::PasswordHash,
                sea_orm::sea_query::Expr::value(hash),
            )
            .col_expr(
                users::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(actor) = audit {
            let event = AuditEvent {
                org_id: org,
                actor: actor.to_owned(),
                action: "user.password_changed",
                target: Some(id.to_string()),
                details: serde_json::json!({}),
            };
            insert_audit(&txn, &event, now).await?;
        }
        let ended = match end_others {
            Some(keep) => {
                super::sessions::end_sessions_in(
                    &txn,
                    org,
                    Some(id),
                    Some(keep),
                    crate::sessions::EndReason::PasswordChanged,
                    audit.unwrap_or("system"),
                    now,
                )
                .await?
            }
            None => Vec::new(),
        };
        txn.commit().await?;
        Ok(ended)
    }

    /// Activates or deactivates a user of this org, with an audit event; `NotFound` when the
    /// org has no such user. Deactivating ends every session of the user (outliving app
    /// sessions included) in the same transaction; returns the sessions it ended.
    pub async fn set_user_active(
        &self,
        org: OrgId,
        id: UserId,
        active: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::sessions::Session>, StoreError> {
        let txn = self.begin_write().await?;
        let status = if active { "active" } else { "disabled" };
        let result = users::Entity::update_many()
            .col_expr(
                users::Column::Status,
                sea_orm::sea_query::Expr::value(status),
            )
            .col_expr(
                users::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: if active {
                "user.enabled"
            } else {
                "user.disabled"
            },
            target: Some(id.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        let ended = if active {
            Vec::new()
        } else {
            super::sessions::end_sessions_in(
                &txn,
                org,
                Some(id),
                None,
                crate::sessions::EndReason::UserDisabled,
                actor,
                now,
            )
            .await?
        };
        txn.commit().await?;
        Ok(ended)
    }

    /// Deletes a user of this org, ending their sessions (and app sessions, with logout
    /// deliveries) in the same transaction, so no session made meanwhile is dropped by the
    /// cascade without an end; returns the ended sessions (to tombstone their copies).
    /// `NotFound` when the org has no such user (including when the id belongs to another org).
    pub async fn delete_user(
        &self,
        org: OrgId,
        id: UserId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::sessions::Session>, StoreError> {
        let txn = self.begin_write().await?;
        let ended = super::sessions::end_sessions_in(
            &txn,
            org,
            Some(id),
            None,
            crate::sessions::EndReason::UserDeleted,
            actor,
            now,
        )
        .await?;
        let result = users::Entity::delete_many()
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            txn.rollback().await?;
            return Err(StoreError::NotFound);
        }
        txn.commit().await?;
        Ok(ended)
    }

    pub async fn count_users(&self, org: OrgId) -> Result<u64, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::OrgId.eq(org.0))
            .count(&self.db)
            .await?)
    }
}
