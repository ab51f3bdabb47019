//! Queries behind the admin API: lists and the few writes it adds. Every query is scoped by org.

use super::entities::{app_sessions, apps, logout_deliveries, sessions};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::apps::{App, AppId};
use crate::audit::AuditEvent;
use crate::oidc::AppSession;
use crate::sessions::{Session, SessionId};
use crate::slo::STATUS_PENDING;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

impl Store {
    /// The org's apps, oldest first.
    pub async fn apps(&self, org: OrgId) -> Result<Vec<App>, StoreError> {
        let ids: Vec<uuid::Uuid> = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .order_by_asc(apps::Column::CreatedAt)
            .order_by_asc(apps::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.app_by_id(org, AppId(id)).await? {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// Replaces a confidential app's secret hash (with an audit event); false if no such app.
    pub async fn set_app_secret_hash(
        &self,
        org: OrgId,
        id: AppId,
        hash: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let result = apps::Entity::update_many()
            .col_expr(apps::Column::ClientSecretHash, Expr::value(hash))
            .col_expr(apps::Column::UpdatedAt, Expr::value(now))
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if result.rows_affected == 1 {
            let event = AuditEvent {
                org_id: org,
                actor: actor.to_owned(),
                action: "app.secret_rotated",
                target: Some(id.to_string()),
                details: serde_json::json!({}),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected == 1)
    }

    /// Live IdP sessions of the org (optionally of one user), newest first.
    pub async fn live_sessions(
        &self,
        org: OrgId,
        user: Option<UserId>,
    ) -> Result<Vec<Session>, StoreError> {
        let mut query = sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::EndedAt.is_null());
        if let Some(user) = user {
            query = query.filter(sessions::Column::UserId.eq(user.0));
        }
        Ok(query
            .order_by_desc(sessions::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::sessions::to_session)
            .collect())
    }

    /// Live app sessions of the org, filtered by IdP session, user and app.
    pub async fn live_app_sessions(
        &self,
        org: OrgId,
        session: Option<SessionId>,
        user: Option<UserId>,
        app: Option<AppId>,
    ) -> Result<Vec<AppSession>, StoreError> {
        let mut query = app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::EndedAt.is_null());
        if let Some(sid) = session {
            query = query.filter(app_sessions::Column::SessionId.eq(sid.0));
        }
        if let Some(user) = user {
            query = query.filter(app_sessions::Column::UserId.eq(user.0));
        }
        if let Some(app) = app {
            query = query.filter(app_sessions::Column::AppId.eq(app.0));
        }
        Ok(query
            .order_by_asc(app_sessions::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::oidc::to_app_session)
            .collect())
    }

    /// Makes a delivery due now again (a failed one too); false if the org has no such row or
    /// it was delivered.
    pub async fn retry_logout_delivery(
        &self,
        org: OrgId,
        id: uuid::Uuid,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let result = logout_deliveries::Entity::update_many()
            .col_expr(
                logout_deliveries::Column::Status,
                Expr::value(STATUS_PENDING),
            )
            .col_expr(logout_deliveries::Column::NextAttemptAt, Expr::value(now))
            .col_expr(logout_deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(logout_deliveries::Column::OrgId.eq(org.0))
            .filter(logout_deliveries::Column::Id.eq(id))
            .filter(logout_deliveries::Column::Status.ne(crate::slo::STATUS_DELIVERED))
            .exec(&txn)
            .await?;
        if result.rows_affected == 1 {
            let event = AuditEvent {
                org_id: org,
                actor: actor.to_owned(),
                action: "logout_delivery.retry_requested",
                target: Some(id.to_string()),
                details: serde_json::json!({}),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected == 1)
    }
}
