//! App sessions and refresh tokens. Every query is scoped by org id.

use super::entities::{app_redirect_uris, app_sessions, apps, consents, refresh_tokens};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::apps::AppId;
use crate::audit::AuditEvent;
use crate::oidc::{AppSession, AppSessionId, RefreshRecord};
use crate::sessions::SessionId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub(super) fn to_app_session(m: app_sessions::Model) -> AppSession {
    AppSession {
        id: AppSessionId(m.id),
        org_id: OrgId(m.org_id),
        app_id: AppId(m.app_id),
        session_id: SessionId(m.session_id),
        user_id: UserId(m.user_id),
        scope: m.scope,
        auth_time: m.auth_time,
        acr: m.acr,
        amr: m
            .amr
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        outlives_idp_session: m.outlives_idp_session,
        created_at: m.created_at,
        last_active_at: m.last_active_at,
        idle_deadline: m.idle_deadline,
        absolute_expiry: m.absolute_expiry,
        ended_at: m.ended_at,
        end_reason: m.end_reason,
        dpop_jkt: m.dpop_jkt,
    }
}

async fn insert_refresh<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    app_session: AppSessionId,
    hash: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org.0),
        app_session_id: Set(app_session.0),
        token_hash: Set(hash.to_owned()),
        scope: Set(scope.to_owned()),
        created_at: Set(now),
        used_at: Set(None),
        parent_id: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Inserts an app session row (its code or marker stored as a hash).
async fn insert_app_session<C: ConnectionTrait>(
    conn: &C,
    s: &AppSession,
    code_hash: &str,
) -> Result<(), StoreError> {
    app_sessions::ActiveModel {
        id: Set(s.id.0),
        org_id: Set(s.org_id.0),
        app_id: Set(s.app_id.0),
        session_id: Set(s.session_id.0),
        user_id: Set(s.user_id.0),
        code_hash: Set(code_hash.to_owned()),
        scope: Set(s.scope.clone()),
        auth_time: Set(s.auth_time),
        acr: Set(s.acr.clone()),
        amr: Set(s.amr.join(" ")),
        outlives_idp_session: Set(s.outlives_idp_session),
        created_at: Set(s.created_at),
        last_active_at: Set(s.last_active_at),
        idle_deadline: Set(s.idle_deadline),
        absolute_expiry: Set(s.absolute_expiry),
        ended_at: Set(None),
        end_reason: Set(None),
        dpop_jkt: Set(s.dpop_jkt.clone()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Whether an app session's end is told to its app, and what must still hold for it to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tell {
    /// The app asked (or the IdP session's end told it already).
    No,
    /// Its own deadline passed: only if it still has, as the row stands.
    IfOverdue,
    /// Its user signed out of it: only if it is theirs.
    Owner(UserId),
    /// An admin ended it: always.
    Yes,
}

/// Queues the delivery of an app session's end to its app, if the app listens (back-channel
/// OIDC, SAML over SOAP).
async fn tell_app<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: AppSessionId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(s) = app_sessions::Entity::find_by_id(id.0)
        .filter(app_sessions::Column::OrgId.eq(org.0))
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    let listens = apps::Entity::find_by_id(s.app_id)
        .filter(apps::Column::OrgId.eq(org.0))
        .filter(apps::Column::BackchannelLogoutUri.is_not_null())
        .one(conn)
        .await?
        .is_some();
    // A SAML app over SOAP is told by the outbox too; one over the front channel is not (no
    // signed-out page carries it when one app session ends).
    let soap = !listens
        && super::slo::saml_logout_apps(conn, org, [s.app_id].into(), now)
            .await?
            .iter()
            .any(|(_, due)| *due == now);
    if listens || soap {
        super::slo::insert_delivery(conn, org, s.app_id, s.session_id, s.user_id, reason, now)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Creates the app session of a code exchange, with its first refresh token, in one
    /// transaction. `Conflict` if the code already made one.
    pub async fn create_app_session(
        &self,
        s: &AppSession,
        code_hash: &str,
        refresh_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        insert_app_session(&txn, s, code_hash).await?;
        if let Some(hash) = refresh_hash {
            insert_refresh(&txn, s.org_id, s.id, hash, &s.scope, s.created_at).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Creates an app session only if its IdP session is still live at `now`, checked in the
    /// same transaction as the insert (review L11): on PostgreSQL the session row is read
    /// `FOR SHARE`, so an end that committed first is seen, and an end that comes later waits
    /// for this insert and then ends the new app session with the others (`end_row` updates
    /// the session row before it reads its app sessions); SQLite has one writer at a time.
    /// False (nothing written) when the IdP session has ended or expired.
    pub async fn create_app_session_if_live(
        &self,
        s: &AppSession,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use super::entities::sessions;
        let txn = self.begin_write().await?;
        let mut live = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::OrgId.eq(s.org_id.0))
            .filter(sessions::Column::Id.eq(s.session_id.0))
            .filter(sessions::Column::EndedAt.is_null())
            .filter(sessions::Column::AbsoluteExpiry.gt(now));
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            live = live.lock_shared();
        }
        if live.into_tuple::<Uuid>().one(&txn).await?.is_none() {
            return Ok(false);
        }
        insert_app_session(&txn, s, code_hash).await?;
        txn.commit().await?;
        Ok(true)
    }

    pub async fn app_session(
        &self,
        org: OrgId,
        id: AppSessionId,
    ) -> Result<Option<AppSession>, StoreError> {
        Ok(app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::Id.eq(id.0))
            .one(&self.db)
            .await?
            .map(to_app_session))
    }

    pub async fn app_session_by_code(
        &self,
        org: OrgId,
        code_hash: &str,
    ) -> Result<Option<AppSession>, StoreError> {
        Ok(app_sessions::Entity::find()
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::CodeHash.eq(code_hash))
            .one(&self.db)
            .await?
            .map(to_app_session))
    }

    /// Live app sessions past their own idle deadline or lifetime, in every org (the sweeper).
    pub async fn overdue_app_sessions(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<AppSession>, StoreError> {
        Ok(app_sessions::Entity::find()
            .filter(app_sessions::Column::EndedAt.is_null())
            .filter(
                Condition::any()
                    .add(app_sessions::Column::IdleDeadline.lte(now))
                    .add(app_sessions::Column::AbsoluteExpiry.lte(now)),
            )
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_app_session)
            .collect())
    }

    /// Ends a live app session with a reason (and an audit event); false if it had ended.
    pub async fn end_app_session(
        &self,
        org: OrgId,
        id: AppSessionId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.end_app_session_telling(org, id, reason, actor, now, Tell::No)
            .await
    }

    /// `end_app_session` for an end its app did not ask for (its own idle timeout or lifetime
    /// passed): the same transaction queues a back-channel delivery to the app when it
    /// registered a back-channel logout URI.
    pub async fn expire_app_session(
        &self,
        org: OrgId,
        id: AppSessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.end_app_session_telling(org, id, reason, "system", now, Tell::IfOverdue)
            .await
    }

    /// Ends the user's own live app session at their request (the account page's "sign out of
    /// this app": local logout), its app told in the same transaction; false when no such live
    /// app session of that user exists.
    pub async fn end_users_app_session(
        &self,
        org: OrgId,
        user: UserId,
        id: AppSessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let actor = format!("user:{}", user.0);
        self.end_app_session_telling(org, id, "user_signed_out", &actor, now, Tell::Owner(user))
            .await
    }

    /// Ends a live app session at an admin's request (local logout of one app, reason
    /// `admin_revoked`, the admin named in the audit event), its app told in the same
    /// transaction; false when the org has no such live app session.
    pub async fn revoke_app_session(
        &self,
        org: OrgId,
        id: AppSessionId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let reason = crate::sessions::EndReason::AdminRevoked.as_str();
        self.end_app_session_telling(org, id, reason, actor, now, Tell::Yes)
            .await
    }

    async fn end_app_session_telling(
        &self,
        org: OrgId,
        id: AppSessionId,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
        tell: Tell,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let mut update = app_sessions::Entity::update_many()
            .col_expr(app_sessions::Column::EndedAt, Expr::value(now))
            .col_expr(app_sessions::Column::EndReason, Expr::value(reason))
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::Id.eq(id.0))
            .filter(app_sessions::Column::EndedAt.is_null());
        match tell {
            Tell::No | Tell::Yes => {}
            // Still past a deadline as the row stands now: a use on another node since it was
            // read has moved the idle deadline, and the app session lives on.
            Tell::IfOverdue => {
                update = update.filter(
                    Condition::any()
                        .add(app_sessions::Column::IdleDeadline.lte(now))
                        .add(app_sessions::Column::AbsoluteExpiry.lte(now)),
                );
            }
            Tell::Owner(user) => {
                update = update.filter(app_sessions::Column::UserId.eq(user.0));
            }
        }
        let result = update.exec(&txn).await?;
        if result.rows_affected == 1 && tell != Tell::No {
            tell_app(&txn, org, id, reason, now).await?;
        }
        if result.rows_affected == 1 {
            let event = AuditEvent {
                org_id: org,
                actor: actor.to_owned(),
                action: "app_session.ended",
                target: Some(id.0.to_string()),
                details: serde_json::json!({ "reason": reason }),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected == 1)
    }

    /// Ends every live app session of the user with the app; returns their ids (so their
    /// copies can be tombstoned).
    pub async fn end_user_app_sessions(
        &self,
        org: OrgId,
        user: UserId,
        app: AppId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AppSessionId>, StoreError> {
        let txn = self.begin_write().await?;
        let ids: Vec<Uuid> = app_sessions::Entity::find()
            .select_only()
            .column(app_sessions::Column::Id)
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::UserId.eq(user.0))
            .filter(app_sessions::Column::AppId.eq(app.0))
            .filter(app_sessions::Column::EndedAt.is_null())
            .into_tuple()
            .all(&txn)
            .await?;
        if !ids.is_empty() {
            app_sessions::Entity::update_many()
                .col_expr(app_sessions::Column::EndedAt, Expr::value(now))
                .col_expr(app_sessions::Column::EndReason, Expr::value(reason))
                .filter(app_sessions::Column::OrgId.eq(org.0))
                .filter(app_sessions::Column::Id.is_in(ids.clone()))
                .filter(app_sessions::Column::EndedAt.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids.into_iter().map(AppSessionId).collect())
    }

    /// Activity on a live app session: moves its idle deadline. False when the app session has
    /// ended (nothing is written).
    pub async fn touch_app_session(
        &self,
        org: OrgId,
        id: AppSessionId,
        now: DateTime<Utc>,
        idle_deadline: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        Ok(app_sessions::Entity::update_many()
            .col_expr(app_sessions::Column::LastActiveAt, Expr::value(now))
            .col_expr(
                app_sessions::Column::IdleDeadline,
                Expr::value(idle_deadline),
            )
            .filter(app_sessions::Column::OrgId.eq(org.0))
            .filter(app_sessions::Column::Id.eq(id.0))
            .filter(app_sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected
            == 1)
    }

    /// The refresh token with this hash; `used_at` is when it was spent (rotated: it has a
    /// successor, or was marked before migration 28), if it was.
    pub async fn refresh_token(
        &self,
        org: OrgId,
        hash: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        #[derive(sea_orm::FromQueryResult)]
        struct Row {
            id: Uuid,
            app_session_id: Uuid,
            scope: String,
            used_at: Option<DateTime<Utc>>,
            successor_at: Option<DateTime<Utc>>,
        }
        let child = Alias::new("successor");
        let successor = Query::select()
            .column((child.clone(), refresh_tokens::Column::CreatedAt))
            .from_as(refresh_tokens::Entity, child.clone())
            .and_where(
                Expr::col((child, refresh_tokens::Column::ParentId))
                    .equals((refresh_tokens::Entity, refresh_tokens::Column::Id)),
            )
            .to_owned();
        let row = refresh_tokens::Entity::find()
            .select_only()
            .columns([
                refresh_tokens::Column::Id,
                refresh_tokens::Column::AppSessionId,
                refresh_tokens::Column::Scope,
                refresh_tokens::Column::UsedAt,
            ])
            .expr_as(successor, "successor_at")
            .filter(refresh_tokens::Column::OrgId.eq(org.0))
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .into_model::<Row>()
            .one(&self.db)
            .await?;
        Ok(row.map(|m| RefreshRecord {
            id: m.id,
            app_session_id: AppSessionId(m.app_session_id),
            scope: m.scope,
            used_at: m.used_at.or(m.successor_at),
        }))
    }

    /// Stores the successor of `old` (spending it) in one statement, if `old` has none yet and
    /// its app session has not ended (read in the same statement, whatever copy of the app
    /// session the caller trusted; on PostgreSQL an end committing during the statement is not
    /// waited for, and the next use of the successor finds the session ended). Otherwise nothing is stored and the
    /// answer says why: a concurrent use spent `old` first (the unique successor index let only
    /// one in), or the app session has ended.
    pub async fn rotate_refresh_token(
        &self,
        org: OrgId,
        old: &RefreshRecord,
        new_hash: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let owner_live = Query::select()
            .expr(Expr::val(1))
            .from(app_sessions::Entity)
            .and_where(app_sessions::Column::OrgId.eq(org.0))
            .and_where(app_sessions::Column::Id.eq(old.app_session_id.0))
            .and_where(app_sessions::Column::EndedAt.is_null())
            .to_owned();
        let successor = Query::select()
            .exprs([
                Expr::val(Uuid::now_v7()),
                Expr::val(org.0),
                Expr::val(old.app_session_id.0),
                Expr::val(new_hash),
                Expr::val(scope),
                Expr::val(now),
                Expr::val(old.id),
            ])
            .and_where(Expr::exists(owner_live))
            .to_owned();
        let insert = insert_successor(successor)?;
        let backend = self.db.get_database_backend();
        match self.db.execute_raw(backend.build(&insert)).await {
            Ok(r) if r.rows_affected() == 1 => Ok(Rotation::Rotated),
            Ok(_) => Ok(Rotation::Ended),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict => Ok(Rotation::Spent),
                other => Err(other),
            },
        }
    }

    /// A refresh of `app` with an unchanged scope in one statement (the common case): stores a
    /// successor for the unspent token whose hash is `hash` if its app session is `app`'s and has
    /// not ended, and returns the spent token's record. `None` when nothing was stored, for
    /// whatever reason (unknown, already spent, another app's, ended, or a concurrent use won
    /// the unique successor index): the caller reads the token to tell which
    /// (`refresh_token`, then `rotate_refresh_token`).
    pub async fn rotate_refresh_token_by_hash(
        &self,
        org: OrgId,
        app: AppId,
        hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let parent = Alias::new("parent");
        let col = |c: refresh_tokens::Column| Expr::col((parent.clone(), c));
        let owner_live = Query::select()
            .expr(Expr::val(1))
            .from(app_sessions::Entity)
            .and_where(app_sessions::Column::OrgId.eq(org.0))
            .and_where(
                Expr::col((app_sessions::Entity, app_sessions::Column::Id))
                    .equals((parent.clone(), refresh_tokens::Column::AppSessionId)),
            )
            .and_where(app_sessions::Column::AppId.eq(app.0))
            .and_where(app_sessions::Column::EndedAt.is_null())
            .to_owned();
        let successor = Query::select()
            .expr(Expr::val(Uuid::now_v7()))
            .expr(col(refresh_tokens::Column::OrgId))
            .expr(col(refresh_tokens::Column::AppSessionId))
            .expr(Expr::val(new_hash))
            .expr(col(refresh_tokens::Column::Scope))
            .expr(Expr::val(now))
            .expr(col(refresh_tokens::Column::Id))
            .from_as(refresh_tokens::Entity, parent.clone())
            .and_where(col(refresh_tokens::Column::OrgId).eq(org.0))
            .and_where(col(refresh_tokens::Column::TokenHash).eq(hash))
            .and_where(col(refresh_tokens::Column::UsedAt).is_null())
            .and_where(Expr::exists(owner_live))
            .to_owned();
        let mut insert = insert_successor(successor)?;
        insert.returning(Query::returning().columns([
            refresh_tokens::Column::AppSessionId,
            refresh_tokens::Column::Scope,
            refresh_tokens::Column::ParentId,
        ]));
        let row = match self.db.query_one(&insert).await {
            Ok(row) => row,
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict => return Ok(None),
                other => return Err(other),
            },
        };
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(RefreshRecord {
            id: row.try_get("", "parent_id")?,
            app_session_id: AppSessionId(row.try_get("", "app_session_id")?),
            scope: row.try_get("", "scope")?,
            used_at: None,
        }))
    }

    /// Undoes a rotation whose successor was never handed out (the request failed after the
    /// rotation, e.g. in an outage): deletes the successor `new_hash` unless it has a successor
    /// itself, so its parent is unspent again and the client's retry is not taken for a replay.
    pub async fn drop_unsent_refresh_token(
        &self,
        org: OrgId,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let child = Alias::new("child");
        let has_child = Query::select()
            .expr(Expr::val(1))
            .from_as(refresh_tokens::Entity, child.clone())
            .and_where(
                Expr::col((child, refresh_tokens::Column::ParentId))
                    .equals((refresh_tokens::Entity, refresh_tokens::Column::Id)),
            )
            .to_owned();
        let deleted = refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::OrgId.eq(org.0))
            .filter(refresh_tokens::Column::TokenHash.eq(new_hash))
            .filter(Expr::exists(has_child).not())
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected == 1)
    }

    /// Origins of the redirect URIs of the org's SPA apps (for CORS on token and userinfo).
    pub async fn spa_origins(&self, org: OrgId) -> Result<Vec<String>, StoreError> {
        let spa_ids: Vec<Uuid> = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::AppType.eq("spa"))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        if spa_ids.is_empty() {
            return Ok(Vec::new());
        }
        let uris = app_redirect_uris::Entity::find()
            .filter(app_redirect_uris::Column::OrgId.eq(org.0))
            .filter(app_redirect_uris::Column::AppId.is_in(spa_ids))
            .all(&self.db)
            .await?;
        let mut origins: Vec<String> = uris
            .into_iter()
            .filter_map(|u| url::Url::parse(&u.uri).ok())
            .map(|u| u.origin().ascii_serialization())
            .collect();
        origins.sort();
        origins.dedup();
        Ok(origins)
    }
}

/// A consent as the account page shows it.
#[derive(Debug, Clone)]
pub struct ConsentRow {
    pub app_id: AppId,
    pub app_name: String,
    pub scope: String,
    pub granted_at: DateTime<Utc>,
}

impl Store {
    /// The scopes the user granted the app, if any.
    pub async fn consent(
        &self,
        org: OrgId,
        user: UserId,
        app: AppId,
    ) -> Result<Option<String>, StoreError> {
        Ok(consents::Entity::find()
            .filter(consents::Column::OrgId.eq(org.0))
            .filter(consents::Column::UserId.eq(user.0))
            .filter(consents::Column::AppId.eq(app.0))
            .one(&self.db)
            .await?
            .map(|m| m.scope))
    }

    /// Records (or widens) a consent, with an audit event.
    pub async fn grant_consent(
        &self,
        org: OrgId,
        user: UserId,
        app: AppId,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let existing = consents::Entity::find()
            .filter(consents::Column::OrgId.eq(org.0))
            .filter(consents::Column::UserId.eq(user.0))
            .filter(consents::Column::AppId.eq(app.0))
            .one(&txn)
            .await?;
        match existing {
            Some(m) => {
                let mut merged: Vec<String> = m.scope.split(' ').map(str::to_owned).collect();
                for s in scope.split(' ') {
                    if !s.is_empty() && !merged.iter().any(|x| x == s) {
                        merged.push(s.to_owned());
                    }
                }
                let mut active: consents::ActiveModel = m.into();
                active.scope = Set(merged.join(" "));
                active.granted_at = Set(now);
                active.update(&txn).await?;
            }
            None => {
                consents::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(org.0),
                    user_id: Set(user.0),
                    app_id: Set(app.0),
                    scope: Set(scope.to_owned()),
                    granted_at: Set(now),
                }
                .insert(&txn)
                .await?;
            }
        }
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "consent.granted",
            target: Some(app.to_string()),
            details: serde_json::json!({ "scope": scope }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Withdraws a consent; false if there was none.
    pub async fn revoke_consent(
        &self,
        org: OrgId,
        user: UserId,
        app: AppId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let result = consents::Entity::delete_many()
            .filter(consents::Column::OrgId.eq(org.0))
            .filter(consents::Column::UserId.eq(user.0))
            .filter(consents::Column::AppId.eq(app.0))
            .exec(&txn)
            .await?;
        if result.rows_affected > 0 {
            let event = AuditEvent {
                org_id: org,
                actor: format!("user:{user}"),
                action: "consent.revoked",
                target: Some(app.to_string()),
                details: serde_json::json!({}),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected > 0)
    }

    /// The user's consents with app names, newest first.
    pub async fn user_consents(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<ConsentRow>, StoreError> {
        let rows = consents::Entity::find()
            .filter(consents::Column::OrgId.eq(org.0))
            .filter(consents::Column::UserId.eq(user.0))
            .order_by_desc(consents::Column::GrantedAt)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name = apps::Entity::find()
                .filter(apps::Column::OrgId.eq(org.0))
                .filter(apps::Column::Id.eq(r.app_id))
                .one(&self.db)
                .await?
                .map(|a| a.name)
                .unwrap_or_default();
            out.push(ConsentRow {
                app_id: AppId(r.app_id),
                app_name: name,
                scope: r.scope,
                granted_at: r.granted_at,
            });
        }
        Ok(out)
    }
}

/// `INSERT INTO refresh_tokens (…) SELECT …`: a successor token made by `successor`, which
/// selects id, org, app session, token hash, scope, creation time and parent, in that order.
fn insert_successor(
    successor: sea_orm::sea_query::SelectStatement,
) -> Result<sea_orm::sea_query::InsertStatement, StoreError> {
    Ok(Query::insert()
        .into_table(refresh_tokens::Entity)
        .columns([
            refresh_tokens::Column::Id,
            refresh_tokens::Column::OrgId,
            refresh_tokens::Column::AppSessionId,
            refresh_tokens::Column::TokenHash,
            refresh_tokens::Column::Scope,
            refresh_tokens::Column::CreatedAt,
            refresh_tokens::Column::ParentId,
        ])
        .select_from(successor)
        .map_err(|e| StoreError::Encoding(e.to_string()))?
        .to_owned())
}

/// What `Store::rotate_refresh_token` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is spent and its successor stored.
    Rotated,
    /// The old token had been used already (a concurrent use won): nothing stored.
    Spent,
    /// The token's app session has ended: nothing stored.
    Ended,
}
