//! Queries behind the admin API: lists and the few writes it adds. Every query is scoped by org.

use super::entities::{app_sessions, apps, logout_deliveries, sessions};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::apps::AppId;
use crate::audit::AuditEvent;
use crate::oidc::AppSession;
use crate::sessions::{Session, SessionId};
use crate::slo::STATUS_PENDING;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Which users a page lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserQuery<'a> {
    /// Part of the email.
    pub search: Option<&'a str>,
    /// Active (true) or disabled (false) users only.
    pub active: Option<bool>,
    /// Users whose email is verified (true) or not (false) only.
    pub verified: Option<bool>,
}

/// Which audit events a page lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditQuery<'a> {
    /// The action or its dotted prefix.
    pub action: Option<&'a str>,
    /// The id the event is about.
    pub target: Option<&'a str>,
    /// Who did it, exactly as recorded (`user:{id}`, `app:{client_id}`, `cli`, `system`).
    pub actor: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Store {
    /// Replaces a confidential app's secret hash (with an audit event); false if no such app.
    pub async fn set_app_secret_hash(
        &self,
        org: OrgId,
        id: AppId,
        hash: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
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
        Ok(live_sessions_query(org, user)
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::sessions::to_session)
            .collect())
    }

    /// One page of the org's live IdP sessions (optionally of one user, or only those `app`
    /// has a live app session in), newest first, and how many match: the admin list, paged by
    /// the database (`offset` rows skipped, at most `limit` read).
    pub async fn live_sessions_page(
        &self,
        org: OrgId,
        user: Option<UserId>,
        app: Option<AppId>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Session>, u64), StoreError> {
        use sea_orm::sea_query::{ExprTrait, Query};
        let mut query = live_sessions_query(org, user);
        if let Some(app) = app {
            query = query.filter(
                Expr::col((sessions::Entity, sessions::Column::Id)).in_subquery(
                    Query::select()
                        .column(app_sessions::Column::SessionId)
                        .from(app_sessions::Entity)
                        .and_where(app_sessions::Column::OrgId.eq(org.0))
                        .and_where(app_sessions::Column::AppId.eq(app.0))
                        .and_where(app_sessions::Column::EndedAt.is_null())
                        .to_owned(),
                ),
            );
        }
        self.newest_sessions_page(query, offset, limit).await
    }

    /// One page of the IdP sessions `query` selects, newest first (ties by id), and how many
    /// it selects in all.
    async fn newest_sessions_page(
        &self,
        query: sea_orm::Select<sessions::Entity>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Session>, u64), StoreError> {
        use sea_orm::{PaginatorTrait, QuerySelect};
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((
            rows.into_iter().map(super::sessions::to_session).collect(),
            total,
        ))
    }

    /// One page of a user's IdP sessions that are live or, ended, still hold a live app
    /// session that outlives them, newest first, and how many there are: the admin API's view
    /// of where the user is signed in, paged by the database.
    pub async fn user_sessions_page(
        &self,
        org: OrgId,
        user: UserId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Session>, u64), StoreError> {
        use sea_orm::sea_query::{Condition, ExprTrait, Query};
        let holds_live_app_session = Query::select()
            .expr(Expr::val(1))
            .from(app_sessions::Entity)
            .and_where(app_sessions::Column::OrgId.eq(org.0))
            .and_where(
                Expr::col((app_sessions::Entity, app_sessions::Column::SessionId))
                    .equals((sessions::Entity, sessions::Column::Id)),
            )
            .and_where(app_sessions::Column::EndedAt.is_null())
            .to_owned();
        let query = sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(
                Condition::any()
                    .add(sessions::Column::EndedAt.is_null())
                    .add(Expr::exists(holds_live_app_session)),
            );
        self.newest_sessions_page(query, offset, limit).await
    }

    /// The client id and name of the org's apps among `ids` (the apps a page of app sessions
    /// names), by app id; one query.
    pub async fn app_labels(
        &self,
        org: OrgId,
        ids: &[AppId],
    ) -> Result<std::collections::BTreeMap<uuid::Uuid, (String, String)>, StoreError> {
        use sea_orm::QuerySelect;
        if ids.is_empty() {
            return Ok(std::collections::BTreeMap::new());
        }
        Ok(apps::Entity::find()
            .select_only()
            .column(apps::Column::Id)
            .column(apps::Column::ClientId)
            .column(apps::Column::Name)
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.is_in(ids.iter().map(|a| a.0)))
            .into_tuple::<(uuid::Uuid, String, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(id, client_id, name)| (id, (client_id, name)))
            .collect())
    }

    /// Live app sessions of the org's IdP sessions `ids` (a page of them), oldest first; one
    /// query.
    pub async fn live_app_sessions_of(
        &self,
        org: OrgId,
        ids: &[SessionId],
    ) -> Result<Vec<AppSession>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::EndedAt.is_null())
            .filter(app_sessions::Column::SessionId.is_in(ids.iter().map(|s| s.0)))
            .order_by_asc(app_sessions::Column::CreatedAt)
            .order_by_asc(app_sessions::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::oidc::to_app_session)
            .collect())
    }

    /// Email addresses of the org's users among `ids`, by user id; one query.
    pub async fn user_emails(
        &self,
        org: OrgId,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<uuid::Uuid, String>, StoreError> {
        use super::entities::users;
        use sea_orm::QuerySelect;
        if ids.is_empty() {
            return Ok(std::collections::BTreeMap::new());
        }
        Ok(users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Email)
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.is_in(ids.iter().map(|u| u.0)))
            .into_tuple::<(uuid::Uuid, String)>()
            .all(&self.db)
            .await?
            .into_iter()
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

    /// One page of the live app sessions of the org's app `app`, newest first (those that
    /// outlive their ended IdP session included), and how many there are: the app's detail,
    /// paged by the database.
    pub async fn app_live_sessions_page(
        &self,
        org: OrgId,
        app: AppId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AppSession>, u64), StoreError> {
        use sea_orm::{PaginatorTrait, QuerySelect};
        let query = app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::AppId.eq(app.0))
            .filter(app_sessions::Column::EndedAt.is_null());
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(app_sessions::Column::CreatedAt)
            .order_by_desc(app_sessions::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((
            rows.into_iter().map(super::oidc::to_app_session).collect(),
            total,
        ))
    }

    /// The org's logout deliveries created at or after `since`, counted by the database per
    /// app and status (no rows loaded): `(app id, status, count)`.
    pub async fn delivery_counts(
        &self,
        org: OrgId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(uuid::Uuid, String, i64)>, StoreError> {
        use logout_deliveries::Column;
        use sea_orm::QuerySelect;
        Ok(logout_deliveries::Entity::find()
            .select_only()
            .column(Column::AppId)
            .column(Column::Status)
            .column_as(Column::Id.count(), "n")
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::CreatedAt.gte(since))
            .group_by(Column::AppId)
            .group_by(Column::Status)
            .into_tuple::<(uuid::Uuid, String, i64)>()
            .all(&self.db)
            .await?)
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
        let txn = self.begin_write().await?;
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

impl Store {
    /// The org's users, oldest first; `search` matches part of the email.
    pub async fn users(
        &self,
        org: OrgId,
        search: Option<&str>,
    ) -> Result<Vec<crate::accounts::User>, StoreError> {
        use super::entities::users;
        let mut query = users::Entity::find().filter(users::Column::OrgId.eq(org.0));
        if let Some(q) = search.map(str::trim).filter(|q| !q.is_empty()) {
            query = query.filter(users::Column::Email.contains(q.to_lowercase()));
        }
        query
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::users::to_user)
            .collect()
    }

    /// One page of the org's users, oldest first (`search` matches part of the email), and
    /// how many match: the admin list, paged by the database.
    pub async fn users_page(
        &self,
        org: OrgId,
        filter: &UserQuery<'_>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<crate::accounts::User>, u64), StoreError> {
        use super::entities::users;
        use sea_orm::{PaginatorTrait, QuerySelect};
        let mut query = users::Entity::find().filter(users::Column::OrgId.eq(org.0));
        if let Some(q) = filter.search.map(str::trim).filter(|q| !q.is_empty()) {
            query = query.filter(users::Column::Email.contains(q.to_lowercase()));
        }
        if let Some(active) = filter.active {
            query =
                query.filter(users::Column::Status.eq(if active { "active" } else { "disabled" }));
        }
        if let Some(verified) = filter.verified {
            query = query.filter(if verified {
                users::Column::EmailVerifiedAt.is_not_null()
            } else {
                users::Column::EmailVerifiedAt.is_null()
            });
        }
        let total = query.clone().count(&self.db).await?;
        let users = query
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::users::to_user)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, total))
    }

    /// Changes a user's display name and/or role (with an audit event); false if no such user.
    pub async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        name: Option<Option<String>>,
        role: Option<crate::accounts::Role>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use super::entities::users;
        let txn = self.begin_write().await?;
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::OrgId.eq(org.0))
            .filter(users::Column::Id.eq(id.0));
        if let Some(name) = &name {
            update = update.col_expr(users::Column::Name, Expr::value(name.clone()));
        }
        if let Some(role) = role {
            update = update.col_expr(users::Column::Role, Expr::value(role.as_str()));
        }
        let result = update.exec(&txn).await?;
        if result.rows_affected == 1 {
            let event = AuditEvent {
                org_id: org,
                actor: actor.to_owned(),
                action: "user.updated",
                target: Some(id.to_string()),
                details: serde_json::json!({ "name_changed": name.is_some(), "role": role.map(|r| r.as_str()) }),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected == 1)
    }

    /// Removes every security key, passkey and recovery code of the user (with an audit event);
    /// returns how many keys went.
    pub async fn reset_user_mfa(
        &self,
        org: OrgId,
        user: UserId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        use super::entities::{recovery_codes, webauthn_credentials};
        let txn = self.begin_write().await?;
        let keys = webauthn_credentials::Entity::delete_many()
            .filter(webauthn_credentials::Column::OrgId.eq(org.0))
            .filter(webauthn_credentials::Column::UserId.eq(user.0))
            .exec(&txn)
            .await?
            .rows_affected;
        recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::OrgId.eq(org.0))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .exec(&txn)
            .await?;
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "user.mfa_reset",
            target: Some(user.to_string()),
            details: serde_json::json!({ "keys_removed": keys }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(keys)
    }

    /// Audit events of the org, newest first, filtered by action (prefix), target and time.
    /// Sign-in outcomes of `org` per hour from `start` for `hours` hours, counted by the
    /// database (no rows loaded): `(hour index, action, count)` for `signin.succeeded`,
    /// `signin.reauthenticated` and `signin.failed`. The hour of a row is a `CASE` over the
    /// hour boundaries (bound values, the same SQL on SQLite and PostgreSQL).
    pub async fn signin_activity(
        &self,
        org: OrgId,
        start: DateTime<Utc>,
        hours: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        use super::entities::audit_events::{Column, Entity};
        use sea_orm::QuerySelect;
        use sea_orm::sea_query::{CaseStatement, Expr};
        let end = start + chrono::Duration::hours(hours);
        // (A CASE needs at least one WHEN: one hour is a constant.)
        let bucket: Expr = if hours <= 1 {
            Expr::val(0_i64)
        } else {
            let mut case = CaseStatement::new();
            for i in 1..hours {
                case = case.case(
                    Column::At.lt(start + chrono::Duration::hours(i)),
                    Expr::val(i - 1),
                );
            }
            case.finally(Expr::val(hours - 1)).into()
        };
        Ok(Entity::find()
            .select_only()
            .column_as(bucket, "bucket")
            .column(Column::Action)
            .column_as(Column::Id.count(), "n")
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::At.gte(start))
            .filter(Column::At.lt(end))
            .filter(Column::Action.is_in([
                "signin.succeeded",
                "signin.reauthenticated",
                "signin.failed",
            ]))
            .group_by(Expr::cust("bucket"))
            .group_by(Column::Action)
            .into_tuple::<(i64, String, i64)>()
            .all(&self.db)
            .await?)
    }

    pub async fn audit_events(
        &self,
        org: OrgId,
        action: Option<&str>,
        target: Option<&str>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<crate::audit::StoredAuditEvent>, StoreError> {
        Ok(self
            .audit_events_page(
                org,
                &AuditQuery {
                    action,
                    target,
                    actor: None,
                    since,
                    until,
                },
                0,
                limit,
                false,
            )
            .await?
            .0)
    }

    /// One page of the org's audit events, newest first, with the filters of `audit_events`,
    /// and (when `count`) how many match (0 otherwise): the admin list, paged by the database.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit_events_page(
        &self,
        org: OrgId,
        filter: &AuditQuery<'_>,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<(Vec<crate::audit::StoredAuditEvent>, u64), StoreError> {
        use super::entities::audit_events;
        use sea_orm::{PaginatorTrait, QuerySelect};
        let mut query = audit_events::Entity::find().filter(audit_events::Column::OrgId.eq(org.0));
        if let Some(a) = filter.action {
            query = query.filter(audit_events::Column::Action.starts_with(a));
        }
        if let Some(t) = filter.target {
            query = query.filter(audit_events::Column::Target.eq(t));
        }
        if let Some(a) = filter.actor {
            query = query.filter(audit_events::Column::Actor.eq(a));
        }
        if let Some(s) = filter.since {
            query = query.filter(audit_events::Column::At.gte(s));
        }
        if let Some(u) = filter.until {
            query = query.filter(audit_events::Column::At.lt(u));
        }
        let total = if count {
            query.clone().count(&self.db).await?
        } else {
            0
        };
        let events = query
            .order_by_desc(audit_events::Column::At)
            .order_by_desc(audit_events::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| crate::audit::StoredAuditEvent {
                id: m.id,
                at: m.at,
                actor: m.actor,
                action: m.action,
                target: m.target,
                details: serde_json::from_str(&m.details).unwrap_or_default(),
            })
            .collect();
        Ok((events, total))
    }
}

/// The org's live IdP sessions, optionally of one user (both admin lists start here).
fn live_sessions_query(org: OrgId, user: Option<UserId>) -> sea_orm::Select<sessions::Entity> {
    let query = sessions::Entity::find()
        .filter(sessions::Column::OrgId.eq(org.0))
        .filter(sessions::Column::EndedAt.is_null());
    match user {
        Some(user) => query.filter(sessions::Column::UserId.eq(user.0)),
        None => query,
    }
}
