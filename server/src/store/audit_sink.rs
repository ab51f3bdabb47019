//! Audit sinks: each org's sink row (its settings and delivery state, the outbox row its worker
//! claims with a lease) and the numbering of the org's audit events.
//!
//! Events are numbered after they commit, by the worker holding the org's lease, under a lock
//! on the sink row: in one transaction it takes the events still unnumbered (`seq IS NULL`,
//! written since the sink's `deliver_from`), gives them the next numbers and records the batch
//! to send. A transaction that commits late is therefore numbered late (never passed by a
//! cursor, as an id or timestamp cursor would pass it), and an event is numbered once (the
//! conditional update and the unique `(org_id, seq)` index).

use super::entities::{audit_events, audit_sinks};
use super::outbox::{Claim, Outbox};
use super::{Store, StoreError, insert_audit};
use crate::audit::{
    AuditEvent, AuditSink, SINK_DISABLED, SINK_ENABLED, SequencedEvent, SinkBatch, SinkOutcome,
    SinkSettings,
};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

fn to_sink(m: audit_sinks::Model) -> AuditSink {
    AuditSink {
        org_id: OrgId(m.org_id),
        url: m.url,
        sealed_secret: m.sealed_secret,
        enabled: m.status == SINK_ENABLED,
        deliver_from: m.deliver_from,
        last_seq: m.last_seq,
        delivered_seq: m.delivered_seq,
        batch_id: m.batch_id,
        batch_end: m.batch_end,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_attempt_at: m.last_attempt_at,
        last_success_at: m.last_success_at,
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn to_event(m: audit_events::Model) -> SequencedEvent {
    SequencedEvent {
        seq: m.seq.unwrap_or_default(),
        id: m.id,
        at: m.at,
        actor: m.actor,
        action: m.action,
        target: m.target,
        details: serde_json::from_str(&m.details).unwrap_or_default(),
    }
}

fn outbox() -> Outbox<audit_sinks::Entity> {
    Outbox {
        id: audit_sinks::Column::OrgId,
        status: audit_sinks::Column::Status,
        pending: SINK_ENABLED,
        next_attempt_at: audit_sinks::Column::NextAttemptAt,
        claimed_until: audit_sinks::Column::ClaimedUntil,
        // Attempts count failures of the batch in delivery, recorded with the outcome.
        attempts_on_claim: None,
    }
}

/// The highest sequence number the org's events have (0 for none).
async fn max_seq<C: ConnectionTrait>(conn: &C, org: OrgId) -> Result<i64, StoreError> {
    let max: Option<Option<i64>> = audit_events::Entity::find()
        .select_only()
        .column_as(audit_events::Column::Seq.max(), "max_seq")
        .filter(audit_events::Column::OrgId.eq(org.0))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Numbers up to `room` of the org's committed, unnumbered events after `sink.last_seq`, the
/// oldest first, and returns the new `last_seq`. The caller holds the sink row's lock.
async fn number_events<C: ConnectionTrait>(
    conn: &C,
    sink: &audit_sinks::Model,
    room: u64,
) -> Result<i64, StoreError> {
    let fresh: Vec<Uuid> = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::Id)
        .filter(audit_events::Column::OrgId.eq(sink.org_id))
        .filter(audit_events::Column::Seq.is_null())
        .filter(audit_events::Column::At.gte(sink.deliver_from))
        .order_by_asc(audit_events::Column::At)
        .order_by_asc(audit_events::Column::Id)
        .limit(room)
        .into_tuple()
        .all(conn)
        .await?;
    let mut last = sink.last_seq;
    for id in fresh {
        let numbered = audit_events::Entity::update_many()
            .col_expr(audit_events::Column::Seq, Expr::value(last + 1))
            .filter(audit_events::Column::OrgId.eq(sink.org_id))
            .filter(audit_events::Column::Id.eq(id))
            .filter(audit_events::Column::Seq.is_null())
            .exec(conn)
            .await?
            .rows_affected;
        if numbered == 1 {
            last += 1;
        }
    }
    Ok(last)
}

impl Store {
    /// The org's audit sink, if it has one.
    pub async fn audit_sink(&self, org: OrgId) -> Result<Option<AuditSink>, StoreError> {
        Ok(audit_sinks::Entity::find_by_id(org.0)
            .one(&self.db)
            .await?
            .map(to_sink))
    }

    /// Creates or changes the org's sink with its audit event, in one transaction. A new sink
    /// delivers the events written from `now` on, numbered after the org's highest number so
    /// far (a sink deleted and made again continues the sequence). A change keeps the cursor
    /// and makes the sink due at once (a fixed URL is tried without waiting out the backoff).
    /// `None`: there is no sink and no secret was given.
    pub async fn put_audit_sink(
        &self,
        org: OrgId,
        settings: SinkSettings,
        event: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<AuditSink>, StoreError> {
        let txn = self.begin_write().await?;
        let existing = audit_sinks::Entity::find_by_id(org.0)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let status = if settings.enabled {
            SINK_ENABLED
        } else {
            SINK_DISABLED
        };
        let saved = match (existing, settings.sealed_secret) {
            (Some(row), secret) => {
                let mut row: audit_sinks::ActiveModel = row.into();
                row.url = Set(settings.url);
                if let Some(secret) = secret {
                    row.sealed_secret = Set(secret);
                }
                row.status = Set(status.to_owned());
                row.attempts = Set(0);
                row.next_attempt_at = Set(now);
                row.updated_at = Set(now);
                row.update(&txn).await?
            }
            (None, Some(secret)) => {
                let start = max_seq(&txn, org).await?;
                audit_sinks::ActiveModel {
                    org_id: Set(org.0),
                    url: Set(settings.url),
                    sealed_secret: Set(secret),
                    status: Set(status.to_owned()),
                    deliver_from: Set(now),
                    last_seq: Set(start),
                    delivered_seq: Set(start),
                    batch_id: Set(None),
                    batch_end: Set(None),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    claimed_until: Set(None),
                    claim_token: Set(None),
                    last_attempt_at: Set(None),
                    last_success_at: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?
            }
            (None, None) => return Ok(None),
        };
        insert_audit(&txn, event, now).await?;
        txn.commit().await?;
        Ok(Some(to_sink(saved)))
    }

    /// Deletes the org's sink with its audit event. False when it had none.
    pub async fn delete_audit_sink(
        &self,
        org: OrgId,
        event: &AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let gone = audit_sinks::Entity::delete_many()
            .filter(audit_sinks::Column::OrgId.eq(org.0))
            .exec(&txn)
            .await?
            .rows_affected;
        if gone == 0 {
            return Ok(false);
        }
        insert_audit(&txn, event, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Events the sink has still to deliver: numbered past its cursor, and not yet numbered.
    pub async fn audit_sink_pending(&self, sink: &AuditSink) -> Result<u64, StoreError> {
        let numbered = audit_events::Entity::find()
            .filter(audit_events::Column::OrgId.eq(sink.org_id.0))
            .filter(audit_events::Column::Seq.gt(sink.delivered_seq))
            .count(&self.db)
            .await?;
        let unnumbered = audit_events::Entity::find()
            .filter(audit_events::Column::OrgId.eq(sink.org_id.0))
            .filter(audit_events::Column::Seq.is_null())
            .filter(audit_events::Column::At.gte(sink.deliver_from))
            .count(&self.db)
            .await?;
        Ok(numbered + unnumbered)
    }

    /// Claims up to `limit` enabled, due sinks no worker holds, until `lease_until`, under
    /// `token` (the outboxes' one claim, `store/outbox.rs`). Returns their orgs.
    pub async fn claim_audit_sinks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
        token: Uuid,
    ) -> Result<Vec<OrgId>, StoreError> {
        let claim = Claim {
            among: None,
            now,
            lease_until,
            limit,
            token: Some((audit_sinks::Column::ClaimToken, token)),
        };
        Ok(self
            .claim_due(&outbox(), claim)
            .await?
            .into_iter()
            .map(OrgId)
            .collect())
    }

    /// The batch the holder of `token` is to send for `org`: the one in delivery if a try
    /// failed (the same events, the same batch id), otherwise the next events past the cursor,
    /// numbering new ones first (up to `max` in a batch). `None` when the claim is no longer
    /// this worker's, the sink is disabled or nothing is due.
    pub async fn next_audit_batch(
        &self,
        org: OrgId,
        token: Uuid,
        now: DateTime<Utc>,
        max: u64,
    ) -> Result<Option<SinkBatch>, StoreError> {
        let txn = self.begin_write().await?;
        // The lock serialises numbering per org: a worker whose lease was taken over finds
        // another token here once the new holder has committed.
        let Some(row) = audit_sinks::Entity::find_by_id(org.0)
            .filter(audit_sinks::Column::ClaimToken.eq(token))
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        if row.status != SINK_ENABLED {
            return Ok(None);
        }
        let (batch_id, end) = match (row.batch_id, row.batch_end) {
            (Some(id), Some(end)) => (id, end),
            _ => {
                let in_flight = u64::try_from(row.last_seq - row.delivered_seq).unwrap_or(0);
                let last = number_events(&txn, &row, max.saturating_sub(in_flight)).await?;
                if last <= row.delivered_seq {
                    return Ok(None);
                }
                let end = std::cmp::Ord::min(
                    last,
                    row.delivered_seq + i64::try_from(max).unwrap_or(i64::MAX),
                );
                let id = Uuid::now_v7();
                audit_sinks::Entity::update_many()
                    .col_expr(audit_sinks::Column::LastSeq, Expr::value(last))
                    .col_expr(audit_sinks::Column::BatchId, Expr::value(Some(id)))
                    .col_expr(audit_sinks::Column::BatchEnd, Expr::value(Some(end)))
                    .col_expr(audit_sinks::Column::UpdatedAt, Expr::value(now))
                    .filter(audit_sinks::Column::OrgId.eq(org.0))
                    .exec(&txn)
                    .await?;
                (id, end)
            }
        };
        let events = audit_events::Entity::find()
            .filter(audit_events::Column::OrgId.eq(org.0))
            .filter(audit_events::Column::Seq.gt(row.delivered_seq))
            .filter(audit_events::Column::Seq.lte(end))
            .order_by_asc(audit_events::Column::Seq)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(SinkBatch {
            org_id: org,
            batch_id,
            url: row.url,
            sealed_secret: row.sealed_secret,
            attempts: row.attempts,
            events: events.into_iter().map(to_event).collect(),
        }))
    }

    /// Records an attempt at the batch `batch_id` by the holder of `token`. Delivered: the
    /// cursor moves to the batch's end and the claim is extended to `lease_until` (the worker
    /// may send the next batch). Failed: the batch stays, the attempt is counted and the claim
    /// is released until `next`. False when the claim is no longer this worker's (its outcome
    /// is not recorded: a delivered batch is then sent again, with the same id and numbers).
    pub async fn finish_audit_batch(
        &self,
        org: OrgId,
        token: Uuid,
        batch_id: Uuid,
        outcome: &SinkOutcome,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut update = audit_sinks::Entity::update_many()
            .col_expr(audit_sinks::Column::LastAttemptAt, Expr::value(Some(now)))
            .col_expr(audit_sinks::Column::UpdatedAt, Expr::value(now))
            .filter(audit_sinks::Column::OrgId.eq(org.0))
            .filter(audit_sinks::Column::ClaimToken.eq(token))
            .filter(audit_sinks::Column::BatchId.eq(batch_id));
        update = match outcome {
            SinkOutcome::Delivered => update
                .col_expr(
                    audit_sinks::Column::DeliveredSeq,
                    Expr::col(audit_sinks::Column::BatchEnd),
                )
                .col_expr(
                    audit_sinks::Column::BatchId,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    audit_sinks::Column::BatchEnd,
                    Expr::value(Option::<i64>::None),
                )
                .col_expr(audit_sinks::Column::Attempts, Expr::value(0))
                .col_expr(audit_sinks::Column::LastSuccessAt, Expr::value(Some(now)))
                .col_expr(
                    audit_sinks::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    audit_sinks::Column::ClaimedUntil,
                    Expr::value(Some(lease_until)),
                ),
            SinkOutcome::Failed { error, next } => update
                .col_expr(
                    audit_sinks::Column::Attempts,
                    Expr::col(audit_sinks::Column::Attempts).add(1),
                )
                .col_expr(
                    audit_sinks::Column::LastError,
                    Expr::value(Some(error.chars().take(500).collect::<String>())),
                )
                .col_expr(audit_sinks::Column::NextAttemptAt, Expr::value(*next))
                .col_expr(
                    audit_sinks::Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    audit_sinks::Column::ClaimToken,
                    Expr::value(Option::<Uuid>::None),
                ),
        };
        Ok(update.exec(&self.db).await?.rows_affected == 1)
    }

    /// Gives a claimed sink back, due again at `next`.
    pub async fn release_audit_sink(
        &self,
        org: OrgId,
        token: Uuid,
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        audit_sinks::Entity::update_many()
            .col_expr(audit_sinks::Column::NextAttemptAt, Expr::value(next))
            .col_expr(
                audit_sinks::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                audit_sinks::Column::ClaimToken,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(audit_sinks::Column::OrgId.eq(org.0))
            .filter(audit_sinks::Column::ClaimToken.eq(token))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
