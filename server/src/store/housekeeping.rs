//! Housekeeping: finished rows past their retention are deleted in batches by the sweeper.
//! Only finished rows: a live session, app session, pending delivery or email, or a link that
//! can still be used is never deleted, and every delete re-checks its condition, so a row that
//! came back to life between the pick and the delete (a failed delivery retried) stays.

use super::entities::{
    app_sessions, email_links, email_outbox, logout_deliveries, pending_signups, sessions,
};
use super::{Store, StoreError};
use crate::slo::{STATUS_DELIVERED, STATUS_FAILED};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// The session row has a newer one of the same user (the statement's table is `sessions`,
/// unaliased, in both the pick and the delete).
const NEWER_SESSION_OF_THE_USER: &str = "EXISTS (SELECT 1 FROM sessions AS newer \
     WHERE newer.org_id = sessions.org_id AND newer.user_id = sessions.user_id \
     AND newer.created_at > sessions.created_at)";

/// How many rows of each kind one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    /// With their refresh tokens (deleted with them by the foreign key).
    pub app_sessions: u64,
    pub logout_deliveries: u64,
    pub emails: u64,
    pub email_links: u64,
    pub pending_signups: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.sessions
            + self.app_sessions
            + self.logout_deliveries
            + self.emails
            + self.email_links
            + self.pending_signups
    }
}

/// Picks at most `batch` ids of `E` matching `finished`, then deletes those of them that still
/// match it.
async fn purge<E>(
    store: &Store,
    id: E::Column,
    finished: Condition,
    batch: u64,
) -> Result<u64, StoreError>
where
    E: EntityTrait,
{
    let ids: Vec<Uuid> = E::find()
        .select_only()
        .column(id)
        .filter(finished.clone())
        .limit(batch)
        .into_tuple()
        .all(&store.db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let result = E::delete_many()
        .filter(id.is_in(ids))
        .filter(finished)
        .exec(&store.db)
        .await?;
    Ok(result.rows_affected)
}

impl Store {
    /// Deletes finished rows that finished before `cutoff`, at most `batch` of each kind.
    pub async fn purge_finished(
        &self,
        cutoff: DateTime<Utc>,
        batch: u64,
    ) -> Result<Purged, StoreError> {
        // App sessions first: an IdP session is kept while any app session of it is kept.
        let app_sessions = purge::<app_sessions::Entity>(
            self,
            app_sessions::Column::Id,
            Condition::all().add(app_sessions::Column::EndedAt.lt(cutoff)),
            batch,
        )
        .await?;
        let kept_app_sessions = Query::select()
            .column(app_sessions::Column::SessionId)
            .from(app_sessions::Entity)
            .to_owned();
        let sessions = purge::<sessions::Entity>(
            self,
            sessions::Column::Id,
            Condition::all()
                .add(sessions::Column::EndedAt.lt(cutoff))
                .add(Expr::col(sessions::Column::Id).not_in_subquery(kept_app_sessions))
                // A user's newest session stays, ended or not: "signed in before" decides the
                // new-device notice, which a dormant account must still get.
                .add(Expr::cust(NEWER_SESSION_OF_THE_USER)),
            batch,
        )
        .await?;
        let logout_deliveries = purge::<logout_deliveries::Entity>(
            self,
            logout_deliveries::Column::Id,
            Condition::all()
                .add(logout_deliveries::Column::Status.is_in([STATUS_DELIVERED, STATUS_FAILED]))
                .add(logout_deliveries::Column::UpdatedAt.lt(cutoff)),
            batch,
        )
        .await?;
        let emails = purge::<email_outbox::Entity>(
            self,
            email_outbox::Column::Id,
            Condition::all()
                .add(email_outbox::Column::Status.is_in(["sent", "failed"]))
                .add(email_outbox::Column::CreatedAt.lt(cutoff)),
            batch,
        )
        .await?;
        let email_links = purge::<email_links::Entity>(
            self,
            email_links::Column::Id,
            Condition::any()
                .add(email_links::Column::ExpiresAt.lt(cutoff))
                .add(email_links::Column::UsedAt.lt(cutoff)),
            batch,
        )
        .await?;
        let pending_signups = purge::<pending_signups::Entity>(
            self,
            pending_signups::Column::Id,
            Condition::any()
                .add(pending_signups::Column::ExpiresAt.lt(cutoff))
                .add(pending_signups::Column::UsedAt.lt(cutoff)),
            batch,
        )
        .await?;
        Ok(Purged {
            sessions,
            app_sessions,
            logout_deliveries,
            emails,
            email_links,
            pending_signups,
        })
    }
}
