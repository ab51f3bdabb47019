//! What `/metrics` reads from the database at scrape time: live sessions per org, the outboxes'
//! depth and oldest pending row, and the connection pool's use.

use super::entities::{email_outbox, logout_deliveries};
use super::{Store, StoreError};
use crate::slo::STATUS_PENDING;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Statement,
};

/// An outbox's pending rows and the creation time of the oldest.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxDepth {
    pub pending: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// Live IdP sessions per org slug, every org (0 included: a gauge never keeps a stale value).
const IDP_SESSIONS: &str = "SELECT o.slug AS slug, COUNT(s.id) AS n FROM orgs o \
     LEFT JOIN sessions s ON s.org_id = o.id AND s.ended_at IS NULL AND s.idle_deadline > {1} \
     AND s.absolute_expiry > {2} GROUP BY o.slug ORDER BY o.slug";

/// Live app sessions per org slug, every org.
const APP_SESSIONS: &str = "SELECT o.slug AS slug, COUNT(a.id) AS n FROM orgs o \
     LEFT JOIN app_sessions a ON a.org_id = o.id AND a.ended_at IS NULL \
     AND a.absolute_expiry > {1} AND (a.idle_deadline IS NULL OR a.idle_deadline > {2}) \
     GROUP BY o.slug ORDER BY o.slug";

impl Store {
    /// Live IdP sessions (`app = false`) or app sessions (`app = true`) per org slug at `now`,
    /// across orgs (the platform's view; only counts leave this function).
    pub async fn live_sessions_per_org(
        &self,
        app: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let backend = self.db.get_database_backend();
        let (one, two) = match backend {
            DbBackend::Postgres => ("$1", "$2"),
            _ => ("?", "?"),
        };
        let sql = if app { APP_SESSIONS } else { IDP_SESSIONS }
            .replace("{1}", one)
            .replace("{2}", two);
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [now.into(), now.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String>("", "slug")?, r.try_get::<i64>("", "n")?)))
            .collect()
    }

    /// How many orgs exist.
    pub async fn org_count(&self) -> Result<u64, StoreError> {
        Ok(super::entities::orgs::Entity::find()
            .count(&self.db)
            .await?)
    }

    /// The logout outbox's pending rows and oldest pending row.
    pub async fn logout_outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        let pending = logout_deliveries::Column::Status.eq(STATUS_PENDING);
        let count = logout_deliveries::Entity::find()
            .filter(pending.clone())
            .count(&self.db)
            .await?;
        let oldest = logout_deliveries::Entity::find()
            .filter(pending)
            .order_by_asc(logout_deliveries::Column::CreatedAt)
            .one(&self.db)
            .await?;
        Ok(OutboxDepth {
            pending: i64::try_from(count).unwrap_or(i64::MAX),
            oldest: oldest.map(|m| m.created_at),
        })
    }

    /// The email outbox's pending rows and oldest pending row.
    pub async fn email_outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        let pending = email_outbox::Column::Status.eq("pending");
        let count = email_outbox::Entity::find()
            .filter(pending.clone())
            .count(&self.db)
            .await?;
        let oldest = email_outbox::Entity::find()
            .filter(pending)
            .order_by_asc(email_outbox::Column::CreatedAt)
            .one(&self.db)
            .await?;
        Ok(OutboxDepth {
            pending: i64::try_from(count).unwrap_or(i64::MAX),
            oldest: oldest.map(|m| m.created_at),
        })
    }

    /// The connection pool's open and idle connections.
    pub fn pool_use(&self) -> Option<(u32, u32)> {
        let (size, idle) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => return None,
        };
        Some((size, u32::try_from(idle).unwrap_or(u32::MAX)))
    }
}
