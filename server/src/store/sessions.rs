//! Session and session-policy rows. Every query on sessions of an org is scoped by org id; only
//! the sweeper looks across orgs.

use super::entities::{org_session_policies as policies, sessions};
use super::slo::{Ending, end_app_sessions};
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::audit::AuditEvent;
use crate::sessions::{EndReason, MfaPolicy, Session, SessionId, SessionPolicy};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

pub(super) fn to_session(m: sessions::Model) -> Session {
    Session {
        id: SessionId(m.id),
        org_id: OrgId(m.org_id),
        user_id: UserId(m.user_id),
        token_hash: m.token_hash,
        created_at: m.created_at,
        last_seen_at: m.last_seen_at,
        idle_deadline: m.idle_deadline,
        absolute_expiry: m.absolute_expiry,
        remember_me: m.remember_me,
        auth_time: m.auth_time,
        password_at: m.password_at,
        webauthn_at: m.webauthn_at,
        user_agent: m.user_agent,
        ip: m.ip,
        ended_at: m.ended_at,
        // An unreadable reason still means ended: keep the row ended, name it admin_revoked.
        end_reason: m
            .end_reason
            .map(|r| r.parse().unwrap_or(EndReason::AdminRevoked)),
    }
}

/// Ends one live session row inside `conn` with its audit event; `None` if it was not live.
async fn end_row<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: SessionId,
    reason: EndReason,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let result = sessions::Entity::update_many()
        .col_expr(sessions::Column::EndedAt, Expr::value(now))
        .col_expr(sessions::Column::EndReason, Expr::value(reason.as_str()))
        .filter(sessions::Column::OrgId.eq(org.0))
        .filter(sessions::Column::Id.eq(id.0))
        .filter(sessions::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    let Some(row) = sessions::Entity::find_by_id(id.0).one(conn).await? else {
        return Ok(None);
    };
    let session = to_session(row);
    // App sessions end in the same transaction: those that may not outlive the IdP session,
    // or all of them when the reason is a revocation ("sign out everywhere"); and
    // the apps to notify get their outbox rows.
    let (app_sessions_ended, deliveries) = end_app_sessions(
        conn,
        org,
        Ending {
            session: Some(id),
            user: None,
            end_outliving: reason.ends_outliving_app_sessions(),
            except_session: None,
        },
        reason.as_str(),
        now,
    )
    .await?;
    let event = AuditEvent {
        org_id: org,
        actor: actor.to_owned(),
        action: "session.ended",
        target: Some(id.to_string()),
        details: serde_json::json!({ "reason": reason.as_str(), "user_id": session.user_id.to_string(), "app_sessions_ended": app_sessions_ended, "logout_deliveries": deliveries }),
    };
    insert_audit(conn, &event, now).await?;
    Ok(Some(session))
}

impl Store {
    pub async fn session_policy(&self, org: OrgId) -> Result<Option<SessionPolicy>, StoreError> {
        Ok(policies::Entity::find_by_id(org.0)
            .one(&self.db)
            .await?
            .map(|m| SessionPolicy {
                idle_timeout_secs: m.idle_timeout_secs,
                absolute_lifetime_secs: m.absolute_lifetime_secs,
                remember_me_allowed: m.remember_me_allowed,
                remember_me_lifetime_secs: m.remember_me_lifetime_secs,
                mfa: MfaPolicy::from_db(&m.mfa_policy),
            }))
    }

    pub async fn set_session_policy(
        &self,
        org: OrgId,
        policy: SessionPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let model = policies::ActiveModel {
            org_id: Set(org.0),
            idle_timeout_secs: Set(policy.idle_timeout_secs),
            absolute_lifetime_secs: Set(policy.absolute_lifetime_secs),
            remember_me_allowed: Set(policy.remember_me_allowed),
            remember_me_lifetime_secs: Set(policy.remember_me_lifetime_secs),
            updated_at: Set(now),
            mfa_policy: Set(policy.mfa.as_str().to_owned()),
        };
        if policies::Entity::find_by_id(org.0)
            .one(&txn)
            .await?
            .is_some()
        {
            model.update(&txn).await?;
        } else {
            model.insert(&txn).await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "org.session_policy_changed",
            target: Some(org.to_string()),
            details: serde_json::to_value(policy).unwrap_or_default(),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Inserts a new session with its `session.started` audit event.
    pub async fn insert_session(
        &self,
        s: &Session,
        notice: Option<&crate::email::OutgoingEmail>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        if let Some(mail) = notice {
            super::email::queue_email(&txn, s.org_id, mail, s.created_at).await?;
        }
        sessions::ActiveModel {
            id: Set(s.id.0),
            org_id: Set(s.org_id.0),
            user_id: Set(s.user_id.0),
            token_hash: Set(s.token_hash.clone()),
            created_at: Set(s.created_at),
            last_seen_at: Set(s.last_seen_at),
            idle_deadline: Set(s.idle_deadline),
            absolute_expiry: Set(s.absolute_expiry),
            remember_me: Set(s.remember_me),
            auth_time: Set(s.auth_time),
            password_at: Set(s.password_at),
            webauthn_at: Set(s.webauthn_at),
            user_agent: Set(s.user_agent.clone()),
            ip: Set(s.ip.clone()),
            ended_at: Set(None),
            end_reason: Set(None),
        }
        .insert(&txn)
        .await?;
        let event = AuditEvent {
            org_id: s.org_id,
            actor: format!("user:{}", s.user_id),
            action: "session.started",
            target: Some(s.id.to_string()),
            details: serde_json::json!({ "remember_me": s.remember_me, "ip": s.ip }),
        };
        insert_audit(&txn, &event, s.created_at).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn session_by_token_hash(
        &self,
        org: OrgId,
        token_hash: &str,
    ) -> Result<Option<Session>, StoreError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(to_session))
    }

    pub async fn session_by_id(
        &self,
        org: OrgId,
        id: SessionId,
    ) -> Result<Option<Session>, StoreError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.eq(id.0))
            .one(&self.db)
            .await?
            .map(to_session))
    }

    /// Records activity (coalesced by the caller) on a live session.
    /// Records activity on a live session; `false` when it is not live (ended meanwhile).
    pub async fn touch_session(
        &self,
        org: OrgId,
        id: SessionId,
        last_seen: DateTime<Utc>,
        idle_deadline: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(last_seen))
            .col_expr(sessions::Column::IdleDeadline, Expr::value(idle_deadline))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        // False when the session is no longer live: a cached copy outlived its end.
        Ok(result.rows_affected > 0)
    }

    /// The user proved their password again on a live session: a new `auth_time` (OIDC
    /// re-authentication) and a new cookie value, without a new session id.
    pub async fn reauthenticate_session(
        &self,
        org: OrgId,
        id: SessionId,
        token_hash: &str,
        now: DateTime<Utc>,
        by_key: bool,
    ) -> Result<bool, StoreError> {
        let update = sessions::Entity::update_many()
            .col_expr(sessions::Column::TokenHash, Expr::value(token_hash))
            .col_expr(sessions::Column::AuthTime, Expr::value(now))
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now));
        // A passkey alone re-authenticates with the key only: the password factor is not
        // claimed again (so a passkey re-authentication can reach `phr`).
        let update = if by_key {
            update
                .col_expr(sessions::Column::WebauthnAt, Expr::value(now))
                .col_expr(
                    sessions::Column::PasswordAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
        } else {
            update.col_expr(sessions::Column::PasswordAt, Expr::value(now))
        };
        let result = update
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub async fn set_session_webauthn_at(
        &self,
        org: OrgId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::WebauthnAt, Expr::value(at))
            // Step-up is an authentication: OIDC auth_time moves with it.
            .col_expr(sessions::Column::AuthTime, Expr::value(at))
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Ends one session of this org; `None` if there was no such live session.
    pub async fn end_session(
        &self,
        org: OrgId,
        id: SessionId,
        reason: EndReason,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let txn = self.begin_write().await?;
        let ended = end_row(&txn, org, id, reason, actor, now).await?;
        txn.commit().await?;
        Ok(ended)
    }

    /// Ends the live sessions of a user (or of the whole org when `user` is `None`), except
    /// `keep`, in one transaction. Returns the sessions it ended.
    pub async fn end_sessions(
        &self,
        org: OrgId,
        user: Option<UserId>,
        keep: Option<SessionId>,
        reason: EndReason,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let txn = self.begin_write().await?;
        let ended = end_sessions_in(&txn, org, user, keep, reason, actor, now).await?;
        txn.commit().await?;
        Ok(ended)
    }

    /// Whether any session of the user (live or ended) came from exactly this user agent: the
    /// user's range of the (org, user) index, stopping at the first match (a returning browser,
    /// the usual case, however many sessions the user has had; a new agent reads the range).
    pub async fn user_has_session_agent(
        &self,
        org: OrgId,
        user: UserId,
        agent: Option<&str>,
    ) -> Result<bool, StoreError> {
        let query = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0));
        let query = match agent {
            Some(ua) => query.filter(sessions::Column::UserAgent.eq(ua)),
            None => query.filter(sessions::Column::UserAgent.is_null()),
        };
        Ok(query
            .limit(1)
            .into_tuple::<uuid::Uuid>()
            .one(&self.db)
            .await?
            .is_some())
    }

    /// The distinct user agents of a user's sessions, ended ones included (at most `limit`):
    /// what the new-device check compares with, without loading every session a user ever had.
    pub async fn user_session_agents(
        &self,
        org: OrgId,
        user: UserId,
        limit: u64,
    ) -> Result<Vec<Option<String>>, StoreError> {
        Ok(sessions::Entity::find()
            .select_only()
            .column(sessions::Column::UserAgent)
            .distinct()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// A user's sessions, newest first; only live ones unless `include_ended`.
    pub async fn user_sessions(
        &self,
        org: OrgId,
        user: UserId,
        include_ended: bool,
    ) -> Result<Vec<Session>, StoreError> {
        let mut query = sessions::Entity::find()
            .filter(sessions::Column::OrgId.eq(org.0))
            .filter(sessions::Column::UserId.eq(user.0));
        if !include_ended {
            query = query.filter(sessions::Column::EndedAt.is_null());
        }
        Ok(query
            .order_by_desc(sessions::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_session)
            .collect())
    }

    /// Live sessions, across orgs, whose idle or absolute deadline has passed (for the sweeper).
    pub async fn overdue_sessions(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::EndedAt.is_null())
            .filter(
                Condition::any()
                    .add(sessions::Column::IdleDeadline.lte(now))
                    .add(sessions::Column::AbsoluteExpiry.lte(now)),
            )
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_session)
            .collect())
    }
}

/// `Store::end_sessions` inside `conn` (so a change that ends sessions, such as a password
/// change, commits with them).
pub(super) async fn end_sessions_in<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user: Option<UserId>,
    keep: Option<SessionId>,
    reason: EndReason,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let mut query = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::OrgId.eq(org.0))
        .filter(sessions::Column::EndedAt.is_null());
    if let Some(user) = user {
        query = query.filter(sessions::Column::UserId.eq(user.0));
    }
    if let Some(keep) = keep {
        query = query.filter(sessions::Column::Id.ne(keep.0));
    }
    let ids: Vec<uuid::Uuid> = query.into_tuple().all(conn).await?;
    let mut ended = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = end_row(conn, org, SessionId(id), reason, actor, now).await? {
            ended.push(s);
        }
    }
    // A revocation also ends the user's (or org's) app sessions that outlived IdP sessions
    // which ended earlier, and notifies their apps: all of them, except those of the kept
    // session ("sign out other sessions" keeps this browser's apps signed in, nothing else).
    if reason.ends_outliving_app_sessions() {
        end_app_sessions(
            conn,
            org,
            Ending {
                session: None,
                user,
                end_outliving: true,
                except_session: keep,
            },
            reason.as_str(),
            now,
        )
        .await?;
    }
    Ok(ended)
}
