//! Device authorization grants (RFC 8628), table `device_grants`: keyed by org, with the
//! SHA-256 of the device code and of the user code (neither code is stored).
//!
//! Polls race (a device may poll from two threads, or an attacker with a copied code from
//! another machine): each poll is a compare-and-set on the row's poll counter (and status), so
//! of two polls that read the same row only one writes its poll; the other reads again, finds
//! the poll just made and is too early (`slow_down`). The poll that finds the grant approved
//! turns it `redeemed` in that same conditional update, so exactly one poll gets the tokens,
//! on any number of nodes. The user's answer is a conditional update too (only a pending,
//! unexpired grant), with its audit event in the same transaction.

use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::apps::AppId;
use crate::audit::AuditEvent;
use crate::oidc::device::{
    DeviceApproval, DeviceGrant, DevicePoll, DeviceStatus, MAX_POLL_INTERVAL_SECS, NewDeviceGrant,
    SLOW_DOWN_STEP_SECS,
};
use crate::sessions::SessionId;
use crate::tenancy::OrgId;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

mod device_grants {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "device_grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub app_id: Uuid,
        pub device_code_hash: String,
        pub user_code_hash: String,
        pub scope: String,
        pub status: String,
        pub interval_secs: i64,
        pub polls: i64,
        pub last_polled_at: Option<DateTimeUtc>,
        pub user_id: Option<Uuid>,
        pub session_id: Option<Uuid>,
        pub auth_time: Option<DateTimeUtc>,
        pub acr: Option<String>,
        pub amr: Option<String>,
        pub created_at: DateTimeUtc,
        pub decided_at: Option<DateTimeUtc>,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use device_grants::{ActiveModel, Column, Entity, Model};

fn to_grant(m: Model) -> DeviceGrant {
    let approval = match (m.user_id, m.session_id, m.auth_time, m.acr) {
        (Some(user), Some(session), Some(auth_time), Some(acr)) => Some(DeviceApproval {
            user_id: UserId(user),
            session_id: SessionId(session),
            auth_time,
            acr,
            amr: m
                .amr
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
        _ => None,
    };
    DeviceGrant {
        id: m.id,
        org_id: OrgId(m.org_id),
        app_id: AppId(m.app_id),
        device_code_hash: m.device_code_hash,
        scope: m.scope,
        status: DeviceStatus::from_db(&m.status),
        interval_secs: m.interval_secs,
        polls: m.polls,
        last_polled_at: m.last_polled_at,
        approval,
        created_at: m.created_at,
        expires_at: m.expires_at,
    }
}

/// How often a poll that lost its compare-and-set reads the row again (each retry follows
/// another poll's write, so it is too early and ends there: two rounds suffice).
const POLL_ROUNDS: usize = 3;

impl Store {
    /// Stores a new grant. A user code already held by a row of the org is `Conflict` (the
    /// caller draws another).
    pub async fn create_device_grant(&self, g: &NewDeviceGrant) -> Result<(), StoreError> {
        ActiveModel {
            id: Set(g.id),
            org_id: Set(g.org_id.0),
            app_id: Set(g.app_id.0),
            device_code_hash: Set(g.device_code_hash.clone()),
            user_code_hash: Set(g.user_code_hash.clone()),
            scope: Set(g.scope.clone()),
            status: Set(DeviceStatus::Pending.as_str().to_owned()),
            interval_secs: Set(g.interval_secs),
            polls: Set(0),
            last_polled_at: Set(None),
            user_id: Set(None),
            session_id: Set(None),
            auth_time: Set(None),
            acr: Set(None),
            amr: Set(None),
            created_at: Set(g.created_at),
            decided_at: Set(None),
            expires_at: Set(g.expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The org's grant with this user code, if it still waits for an answer at `now`. Any
    /// other (unknown, another org's, answered, expired) is `None`: one answer for all.
    pub async fn pending_device_grant(
        &self,
        org: OrgId,
        user_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        Ok(Entity::find()
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::UserCodeHash.eq(user_code_hash))
            .filter(Column::Status.eq(DeviceStatus::Pending.as_str()))
            .filter(Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .map(to_grant))
    }

    /// The user's answer to a pending grant: approved with `approval`, or denied (`None`), with
    /// `event` in the same transaction. False when the grant was no longer pending (answered
    /// meanwhile, in another tab) or has expired.
    pub async fn decide_device_grant(
        &self,
        org: OrgId,
        id: Uuid,
        approval: Option<&DeviceApproval>,
        event: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let mut update = Entity::update_many()
            .col_expr(Column::DecidedAt, Expr::value(now))
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::Id.eq(id))
            .filter(Column::Status.eq(DeviceStatus::Pending.as_str()))
            .filter(Column::ExpiresAt.gt(now));
        update = match approval {
            Some(a) => update
                .col_expr(Column::Status, Expr::value(DeviceStatus::Approved.as_str()))
                .col_expr(Column::UserId, Expr::value(a.user_id.0))
                .col_expr(Column::SessionId, Expr::value(a.session_id.0))
                .col_expr(Column::AuthTime, Expr::value(a.auth_time))
                .col_expr(Column::Acr, Expr::value(a.acr.clone()))
                .col_expr(Column::Amr, Expr::value(a.amr.join(" "))),
            None => update.col_expr(Column::Status, Expr::value(DeviceStatus::Denied.as_str())),
        };
        let decided = update.exec(&txn).await?.rows_affected == 1;
        if decided {
            insert_audit(&txn, event, now).await?;
        }
        txn.commit().await?;
        Ok(decided)
    }

    /// One poll of `app` with the device code whose hash is `device_code_hash`, at `now`: what
    /// it finds, with the poll recorded (and an approved grant redeemed) by a compare-and-set
    /// on the poll counter, so racing polls take turns and one alone redeems.
    pub async fn poll_device_grant(
        &self,
        org: OrgId,
        app: AppId,
        device_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<DevicePoll, StoreError> {
        for _ in 0..POLL_ROUNDS {
            let Some(row) = Entity::find()
                .filter(Column::OrgId.eq(org.0))
                .filter(Column::AppId.eq(app.0))
                .filter(Column::DeviceCodeHash.eq(device_code_hash))
                .one(&self.db)
                .await?
            else {
                return Ok(DevicePoll::Unknown);
            };
            let grant = to_grant(row);
            if now >= grant.expires_at {
                return Ok(DevicePoll::Expired);
            }
            if let Some(outcome) = self.record_poll(&grant, now).await? {
                return Ok(outcome);
            }
        }
        // Still losing to other polls of the same code: they are polling too fast.
        Ok(DevicePoll::SlowDown {
            interval_secs: MAX_POLL_INTERVAL_SECS,
        })
    }

    /// Writes the poll if the row is still as `grant` saw it; `None` when another poll wrote
    /// first.
    async fn record_poll(
        &self,
        grant: &DeviceGrant,
        now: DateTime<Utc>,
    ) -> Result<Option<DevicePoll>, StoreError> {
        let too_early = grant
            .last_polled_at
            .is_some_and(|last| now < last + Duration::seconds(grant.interval_secs));
        let interval = if too_early {
            (grant.interval_secs + SLOW_DOWN_STEP_SECS).min(MAX_POLL_INTERVAL_SECS)
        } else {
            grant.interval_secs
        };
        let redeem = !too_early && grant.status == DeviceStatus::Approved;
        let mut update = Entity::update_many()
            .col_expr(Column::Polls, Expr::value(grant.polls + 1))
            .col_expr(Column::LastPolledAt, Expr::value(now))
            .col_expr(Column::IntervalSecs, Expr::value(interval))
            .filter(Column::OrgId.eq(grant.org_id.0))
            .filter(Column::Id.eq(grant.id))
            .filter(Column::Polls.eq(grant.polls))
            .filter(Column::Status.eq(grant.status.as_str()));
        if redeem {
            update = update.col_expr(Column::Status, Expr::value(DeviceStatus::Redeemed.as_str()));
        }
        if update.exec(&self.db).await?.rows_affected != 1 {
            return Ok(None);
        }
        Ok(Some(if too_early {
            DevicePoll::SlowDown {
                interval_secs: interval,
            }
        } else {
            match grant.status {
                DeviceStatus::Pending => DevicePoll::Pending,
                DeviceStatus::Denied => DevicePoll::Denied,
                DeviceStatus::Redeemed => DevicePoll::AlreadyRedeemed,
                DeviceStatus::Approved => DevicePoll::Approved(Box::new(grant.clone())),
            }
        }))
    }

    /// Deletes the grants that expired before `now`, across orgs (for the sweeper). An expired
    /// grant is refused at once anyway; its row only remembers it until then.
    pub async fn sweep_device_grants(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
