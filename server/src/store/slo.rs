//! The logout outbox: app sessions ended with an IdP session, delivery rows written in the same
//! transaction, and the worker's claims. Org-owned rows are scoped by org id; the worker's claim
//! looks across orgs (it is the platform's job queue).

use super::entities::{app_sessions, apps, logout_deliveries, saml_apps};
use super::outbox::{Claim, Outbox};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::apps::{AppId, SamlBinding};
use crate::audit::AuditEvent;
use crate::sessions::SessionId;
use crate::slo::{
    FRONT_CHANNEL_WINDOW_SECS, LogoutDelivery, STATUS_DELIVERED, STATUS_FAILED, STATUS_PENDING,
};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

fn to_delivery(m: logout_deliveries::Model) -> LogoutDelivery {
    LogoutDelivery {
        id: m.id,
        org_id: OrgId(m.org_id),
        app_id: AppId(m.app_id),
        session_id: SessionId(m.session_id),
        user_id: UserId(m.user_id),
        reason: m.reason,
        status: m.status,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
        claimed_until: m.claimed_until,
    }
}

/// Which app sessions an ending touches.
pub(super) struct Ending {
    pub session: Option<SessionId>,
    pub user: Option<UserId>,
    /// Revocations end app sessions that may outlive the IdP session too.
    pub end_outliving: bool,
    /// App sessions of this IdP session are left alone (the session the user keeps).
    pub except_session: Option<SessionId>,
}

/// Ends the live app sessions an IdP session ending touches and writes one back-channel
/// delivery per (app, IdP session) for every app that had a live app session there and
/// registered a back-channel logout URI — whether its app session ends now or outlives the IdP
/// session (every app that took part is told). Returns (ended, deliveries).
pub(super) async fn end_app_sessions<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    which: Ending,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(u64, u64), StoreError> {
    let mut query = app_sessions::Entity::find()
        .filter(app_sessions::Column::OrgId.eq(org.0))
        .filter(app_sessions::Column::EndedAt.is_null());
    if let Some(sid) = which.session {
        query = query.filter(app_sessions::Column::SessionId.eq(sid.0));
    }
    if let Some(user) = which.user {
        query = query.filter(app_sessions::Column::UserId.eq(user.0));
    }
    if let Some(keep) = which.except_session {
        query = query.filter(app_sessions::Column::SessionId.ne(keep.0));
    }
    let live = query.all(conn).await?;
    if live.is_empty() {
        return Ok((0, 0));
    }
    let to_end: Vec<Uuid> = live
        .iter()
        .filter(|s| which.end_outliving || !s.outlives_idp_session)
        .map(|s| s.id)
        .collect();
    let mut ended = 0;
    if !to_end.is_empty() {
        ended = app_sessions::Entity::update_many()
            .col_expr(app_sessions::Column::EndedAt, Expr::value(now))
            .col_expr(app_sessions::Column::EndReason, Expr::value(reason))
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::Id.is_in(to_end))
            // Ended meanwhile (the app-session sweeper, a revocation): its end stands.
            .filter(app_sessions::Column::EndedAt.is_null())
            .exec(conn)
            .await?
            .rows_affected;
    }
    let targets: BTreeSet<(Uuid, Uuid, Uuid)> = live
        .iter()
        .map(|s| (s.app_id, s.session_id, s.user_id))
        .collect();
    let app_ids: BTreeSet<Uuid> = targets.iter().map(|t| t.0).collect();
    let mut due_at: BTreeMap<Uuid, DateTime<Utc>> = apps::Entity::find()
        .filter(apps::Column::OrgId.eq(org.0))
        .filter(apps::Column::Id.is_in(app_ids.clone()))
        .filter(apps::Column::BackchannelLogoutUri.is_not_null())
        .all(conn)
        .await?
        .into_iter()
        .map(|a| (a.id, now))
        .collect();
    due_at.extend(saml_logout_apps(conn, org, app_ids, now).await?);
    let mut queued = 0;
    for (app, sid, user) in targets {
        if let Some(due) = due_at.get(&app) {
            let to = DeliveryTarget { app, sid, user };
            insert_delivery_due(conn, org, to, reason, now, *due).await?;
            queued += 1;
        }
    }
    Ok((ended, queued))
}

/// The SAML apps among `ids` with a Single Logout endpoint, and when their delivery is due:
/// now over SOAP (the outbox sends it); over the front channel (Redirect, POST) the user's
/// browser carries it from the signed-out page, and the outbox only marks it failed if no
/// LogoutResponse came back within `FRONT_CHANNEL_WINDOW_SECS`.
pub(super) async fn saml_logout_apps<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    ids: BTreeSet<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
    let rows = saml_apps::Entity::find()
        .filter(saml_apps::Column::OrgId.eq(org.0))
        .filter(saml_apps::Column::AppId.is_in(ids))
        .all(conn)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let app = row.app_id;
        let Some(slo) = super::apps::stored_saml(row)?.slo else {
            continue;
        };
        let due = match slo.binding {
            SamlBinding::Soap => now,
            SamlBinding::Redirect | SamlBinding::Post => {
                now + chrono::Duration::seconds(FRONT_CHANNEL_WINDOW_SECS)
            }
        };
        out.push((app, due));
    }
    Ok(out)
}

/// Queues one logout delivery to `app` for the IdP session `sid` of `user`, due now.
pub(super) async fn insert_delivery<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    app: Uuid,
    sid: Uuid,
    user: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let target = DeliveryTarget { app, sid, user };
    insert_delivery_due(conn, org, target, reason, now, now).await
}

/// Whom a delivery tells: an app, of an IdP session of a user.
struct DeliveryTarget {
    app: Uuid,
    sid: Uuid,
    user: Uuid,
}

/// Queues one logout delivery, made `now` and due at `due`.
async fn insert_delivery_due<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    to: DeliveryTarget,
    reason: &str,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    logout_deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.0),
        app_id: Set(to.app),
        session_id: Set(to.sid),
        user_id: Set(to.user),
        reason: Set(reason.to_owned()),
        status: Set(STATUS_PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(due),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
        claim_token: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The org's logout deliveries, newest first (admin API, console, tests).
    pub async fn logout_deliveries(&self, org: OrgId) -> Result<Vec<LogoutDelivery>, StoreError> {
        Ok(logout_deliveries::Entity::find()
            .filter(logout_deliveries::Column::OrgId.eq(org.0))
            .order_by_desc(logout_deliveries::Column::CreatedAt)
            .order_by_desc(logout_deliveries::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_delivery)
            .collect())
    }

    /// One page of the org's logout deliveries (optionally of one status), newest first, and
    /// how many match: the admin list, paged by the database.
    pub async fn logout_deliveries_page(
        &self,
        org: OrgId,
        status: Option<&str>,
        app: Option<AppId>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<LogoutDelivery>, u64), StoreError> {
        use sea_orm::{PaginatorTrait, QuerySelect};
        let mut query =
            logout_deliveries::Entity::find().filter(logout_deliveries::Column::OrgId.eq(org.0));
        if let Some(status) = status {
            query = query.filter(logout_deliveries::Column::Status.eq(status));
        }
        if let Some(app) = app {
            query = query.filter(logout_deliveries::Column::AppId.eq(app.0));
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(logout_deliveries::Column::CreatedAt)
            .order_by_desc(logout_deliveries::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(to_delivery).collect(), total))
    }

    /// Due rows no worker holds, oldest first, at most `per_app` of each app (so one app with
    /// many due rows cannot fill a worker's slots) and `limit` in all: (row, app). Nothing is
    /// taken yet; `claim_logout_deliveries` takes the ones the worker has room for.
    pub async fn due_logout_deliveries(
        &self,
        now: DateTime<Utc>,
        per_app: usize,
        limit: usize,
    ) -> Result<Vec<(Uuid, AppId)>, StoreError> {
        let backend = self.db.get_database_backend();
        let per_app = i64::try_from(per_app).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (sql, values): (&str, Vec<sea_orm::Value>) = if backend == DbBackend::Postgres {
            (
                "SELECT id, app_id FROM (SELECT id, app_id, next_attempt_at, ROW_NUMBER() OVER \
                 (PARTITION BY app_id ORDER BY next_attempt_at, id) AS n FROM logout_deliveries \
                 WHERE status = $1 AND next_attempt_at <= $2 \
                 AND (claimed_until IS NULL OR claimed_until < $2)) ranked \
                 WHERE n <= $3 ORDER BY next_attempt_at, id LIMIT $4",
                vec![
                    STATUS_PENDING.into(),
                    now.into(),
                    per_app.into(),
                    limit.into(),
                ],
            )
        } else {
            (
                "SELECT id, app_id FROM (SELECT id, app_id, next_attempt_at, ROW_NUMBER() OVER \
                 (PARTITION BY app_id ORDER BY next_attempt_at, id) AS n FROM logout_deliveries \
                 WHERE status = ? AND next_attempt_at <= ? \
                 AND (claimed_until IS NULL OR claimed_until < ?)) ranked \
                 WHERE n <= ? ORDER BY next_attempt_at, id LIMIT ?",
                vec![
                    STATUS_PENDING.into(),
                    now.into(),
                    now.into(),
                    per_app.into(),
                    limit.into(),
                ],
            )
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<Uuid>("", "id")?,
                    AppId(r.try_get::<Uuid>("", "app_id")?),
                ))
            })
            .collect()
    }

    /// Takes those of `ids` that are still due and unheld for this worker until `lease_until`,
    /// writing its claim `token` and counting the attempt now (a worker that dies during the
    /// attempt has still made it). No two workers hold a row at once (`Store::claim_due`).
    pub async fn claim_logout_deliveries(
        &self,
        ids: &[Uuid],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        token: Uuid,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let outbox = Outbox::<logout_deliveries::Entity> {
            id: logout_deliveries::Column::Id,
            status: logout_deliveries::Column::Status,
            pending: STATUS_PENDING,
            next_attempt_at: logout_deliveries::Column::NextAttemptAt,
            claimed_until: logout_deliveries::Column::ClaimedUntil,
            attempts_on_claim: Some(logout_deliveries::Column::Attempts),
        };
        let claim = Claim {
            among: Some(ids),
            now,
            lease_until,
            limit: u64::try_from(ids.len()).unwrap_or(u64::MAX),
            token: Some((logout_deliveries::Column::ClaimToken, token)),
        };
        let taken = self.claim_due(&outbox, claim).await?;
        Ok(logout_deliveries::Entity::find()
            .filter(logout_deliveries::Column::Id.is_in(taken))
            .filter(logout_deliveries::Column::ClaimToken.eq(token))
            .order_by_asc(logout_deliveries::Column::NextAttemptAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_delivery)
            .collect())
    }

    /// Extends this worker's lease on those of `ids` it still holds under `token` (a row another
    /// worker took after the lease ran out carries that worker's token and is left alone).
    /// Returns how many rows were extended.
    pub async fn renew_logout_claims(
        &self,
        ids: &[Uuid],
        token: Uuid,
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(logout_deliveries::Entity::update_many()
            .col_expr(
                logout_deliveries::Column::ClaimedUntil,
                Expr::value(lease_until),
            )
            .filter(logout_deliveries::Column::Id.is_in(ids.iter().copied()))
            .filter(logout_deliveries::Column::ClaimToken.eq(token))
            .filter(logout_deliveries::Column::Status.eq(STATUS_PENDING))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// Records an attempt's outcome, releases the lease and writes the audit event, in one
    /// transaction. `next` is Some for a retry, None for delivered (`error` None) or failed for
    /// good. The row must still be held under `token`, except for a delivery (a 2xx is true
    /// whoever holds the row now, and recording it spares the receiver another POST): that is
    /// recorded on any row still pending. Returns false when nothing was recorded (the lease was
    /// lost, and the row was taken again or finished meanwhile).
    pub async fn finish_logout_delivery(
        &self,
        d: &LogoutDelivery,
        token: Uuid,
        error: Option<&str>,
        next: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.record_outcome(d, Some(token), error, next, now).await
    }

    /// Records what a front-channel (SAML Redirect/POST) delivery came to when the SP's
    /// LogoutResponse comes back through the browser: delivered (`error` None) or failed for
    /// good, on a row still pending and not held by a worker. With its audit event. False when
    /// the row was no longer pending (its window ran out, or a response was recorded already).
    pub async fn settle_logout_delivery(
        &self,
        d: &LogoutDelivery,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.record_outcome(d, None, error, None, now).await
    }

    /// `finish_logout_delivery` and `settle_logout_delivery`: with a claim token, the row must
    /// be held under it (a 2xx excepted); without, it must not be held by a worker now.
    async fn record_outcome(
        &self,
        d: &LogoutDelivery,
        token: Option<Uuid>,
        error: Option<&str>,
        next: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let status = match (error, next) {
            (None, _) => STATUS_DELIVERED,
            (Some(_), Some(_)) => STATUS_PENDING,
            (Some(_), None) => STATUS_FAILED,
        };
        let txn = self.begin_write().await?;
        let update = || {
            let mut q = logout_deliveries::Entity::update_many()
                .col_expr(logout_deliveries::Column::Status, Expr::value(status))
                .col_expr(
                    logout_deliveries::Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    logout_deliveries::Column::ClaimToken,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    logout_deliveries::Column::LastError,
                    Expr::value(error.map(|e| e.chars().take(500).collect::<String>())),
                )
                .col_expr(logout_deliveries::Column::UpdatedAt, Expr::value(now))
                .filter(logout_deliveries::Column::Id.eq(d.id))
                .filter(logout_deliveries::Column::Status.eq(STATUS_PENDING));
            if let Some(next) = next {
                q = q.col_expr(logout_deliveries::Column::NextAttemptAt, Expr::value(next));
            }
            if error.is_none() {
                q = q.col_expr(
                    logout_deliveries::Column::DeliveredAt,
                    Expr::value(Some(now)),
                );
            }
            q
        };
        let mut done = match token {
            Some(token) => update().filter(logout_deliveries::Column::ClaimToken.eq(token)),
            None => update().filter(
                sea_orm::Condition::any()
                    .add(logout_deliveries::Column::ClaimedUntil.is_null())
                    .add(logout_deliveries::Column::ClaimedUntil.lt(now)),
            ),
        }
        .exec(&txn)
        .await?
        .rows_affected;
        if done == 0 && token.is_some() && status == STATUS_DELIVERED {
            done = update().exec(&txn).await?.rows_affected;
        }
        if done == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        let action = match status {
            STATUS_DELIVERED => "logout_delivery.delivered",
            STATUS_PENDING => "logout_delivery.retrying",
            _ => "logout_delivery.failed",
        };
        let event = AuditEvent {
            org_id: d.org_id,
            actor: "system".to_owned(),
            action,
            target: Some(d.id.to_string()),
            details: serde_json::json!({
                "app_id": d.app_id.to_string(), "sid": d.session_id.to_string(),
                "attempt": d.attempts, "error": error, "next_attempt_at": next,
            }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// The ids of the app sessions `app` had under the IdP session `sid`, ended or not, oldest
    /// first: a SAML LogoutRequest's `SessionIndex` values (each is the `SessionIndex` its
    /// Response carried).
    pub async fn app_session_ids_in(
        &self,
        org: OrgId,
        app: AppId,
        sid: SessionId,
    ) -> Result<Vec<Uuid>, StoreError> {
        Ok(app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::AppId.eq(app.0))
            .filter(app_sessions::Column::SessionId.eq(sid.0))
            .order_by_asc(app_sessions::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }

    /// One of the org's logout deliveries.
    pub async fn logout_delivery(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> Result<Option<LogoutDelivery>, StoreError> {
        Ok(logout_deliveries::Entity::find()
            .filter(logout_deliveries::Column::OrgId.eq(org.0))
            .filter(logout_deliveries::Column::Id.eq(id))
            .one(&self.db)
            .await?
            .map(to_delivery))
    }

    /// The pending deliveries of one IdP session (the signed-out page carries the front-channel
    /// ones), oldest first.
    pub async fn pending_deliveries_of(
        &self,
        org: OrgId,
        sid: SessionId,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        Ok(logout_deliveries::Entity::find()
            .filter(logout_deliveries::Column::OrgId.eq(org.0))
            .filter(logout_deliveries::Column::SessionId.eq(sid.0))
            .filter(logout_deliveries::Column::Status.eq(STATUS_PENDING))
            .order_by_asc(logout_deliveries::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_delivery)
            .collect())
    }
}

impl Store {
    /// The apps that took part in an IdP session (had an app session under it), for the
    /// front-channel logout page.
    pub async fn apps_in_session(
        &self,
        org: OrgId,
        sid: SessionId,
    ) -> Result<Vec<crate::apps::App>, StoreError> {
        let ids: BTreeSet<Uuid> = app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::SessionId.eq(sid.0))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| s.app_id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.app_by_id(org, AppId(id)).await? {
                out.push(app);
            }
        }
        Ok(out)
    }
}
