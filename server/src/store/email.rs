//! The email outbox and password reset tokens. Org-owned rows are scoped by org id; the
//! worker's claim looks across orgs.

use super::entities::{email_outbox, password_resets};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::audit::AuditEvent;
use crate::email::{OutgoingEmail, QueuedEmail};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

/// A stored reset token.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub id: Uuid,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
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
    /// Stores a reset token (voiding the user's older ones) and queues its email, in one
    /// transaction with the audit event.
    pub async fn create_password_reset(
        &self,
        org: OrgId,
        user: UserId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        email: &OutgoingEmail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(now))
            .filter(password_resets::Column::OrgId.eq(org.0))
            .filter(password_resets::Column::UserId.eq(user.0))
            .filter(password_resets::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        password_resets::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org.0),
            user_id: Set(user.0),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        }
        .insert(&txn)
        .await?;
        queue_email(&txn, org, email, now).await?;
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "password.reset_requested",
            target: Some(user.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn password_reset(
        &self,
        org: OrgId,
        token_hash: &str,
    ) -> Result<Option<PasswordReset>, StoreError> {
        Ok(password_resets::Entity::find()
            .filter(password_resets::Column::OrgId.eq(org.0))
            .filter(password_resets::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(|m| PasswordReset {
                id: m.id,
                user_id: UserId(m.user_id),
                expires_at: m.expires_at,
                used_at: m.used_at,
            }))
    }

    /// Marks a reset token used; true only for the one request that used it.
    pub async fn use_password_reset(
        &self,
        org: OrgId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(password_resets::Entity::update_many()
            .col_expr(password_resets::Column::UsedAt, Expr::value(now))
            .filter(password_resets::Column::OrgId.eq(org.0))
            .filter(password_resets::Column::Id.eq(id))
            .filter(password_resets::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected
            == 1)
    }

    /// Takes up to `limit` due messages until `lease_until` (one conditional update per row:
    /// no two workers send the same message at once).
    pub async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let candidates: Vec<Uuid> = email_outbox::Entity::find()
            .select_only()
            .column(email_outbox::Column::Id)
            .filter(email_outbox::Column::Status.eq("pending"))
            .filter(email_outbox::Column::NextAttemptAt.lte(now))
            .filter(
                sea_orm::Condition::any()
                    .add(email_outbox::Column::ClaimedUntil.is_null())
                    .add(email_outbox::Column::ClaimedUntil.lt(now)),
            )
            .order_by_asc(email_outbox::Column::NextAttemptAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut out = Vec::new();
        for id in candidates {
            let taken = email_outbox::Entity::update_many()
                .col_expr(email_outbox::Column::ClaimedUntil, Expr::value(lease_until))
                .filter(email_outbox::Column::Id.eq(id))
                .filter(email_outbox::Column::Status.eq("pending"))
                .filter(
                    sea_orm::Condition::any()
                        .add(email_outbox::Column::ClaimedUntil.is_null())
                        .add(email_outbox::Column::ClaimedUntil.lt(now)),
                )
                .exec(&self.db)
                .await?;
            if taken.rows_affected == 1
                && let Some(m) = email_outbox::Entity::find_by_id(id).one(&self.db).await?
            {
                out.push(to_queued(m));
            }
        }
        Ok(out)
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
