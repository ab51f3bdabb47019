//! The claim both outboxes (logout deliveries, email) take their due rows with. A row is due
//! when it is pending, its `next_attempt_at` has come and no worker holds it (`claimed_until`
//! unset or past); claiming it sets `claimed_until` to the lease's end, so no two workers hold a
//! row at once. The claim looks across orgs: it is the platform's job queue.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement,
    UpdateStatement,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic};
use uuid::Uuid;

/// An outbox table: the columns the claim reads and writes.
pub(super) struct Outbox<E: EntityTrait> {
    pub id: E::Column,
    pub status: E::Column,
    /// The `status` of a row still to be attempted.
    pub pending: &'static str,
    pub next_attempt_at: E::Column,
    pub claimed_until: E::Column,
    /// Counted up when a row is claimed (a worker that dies during the attempt has still made
    /// it), for outboxes that count attempts so; the others count them when recording one.
    pub attempts_on_claim: Option<E::Column>,
}

/// One claim: which rows, when, until when.
pub(super) struct Claim<'a, C> {
    /// Only these rows (the caller chose them), or any due row.
    pub among: Option<&'a [Uuid]>,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    /// At most this many rows, the longest due first.
    pub limit: u64,
    /// The claim token and its column, for outboxes whose workers hold rows under one.
    pub token: Option<(C, Uuid)>,
}

impl<E: EntityTrait> Outbox<E> {
    /// Pending, due and held by no worker at `now`.
    fn due(&self, now: DateTime<Utc>) -> Condition {
        Condition::all()
            .add(self.status.eq(self.pending))
            .add(self.next_attempt_at.lte(now))
            .add(
                Condition::any()
                    .add(self.claimed_until.is_null())
                    .add(self.claimed_until.lt(now)),
            )
    }

    /// The ids of the rows to claim, the longest due first.
    fn candidates(&self, claim: &Claim<'_, E::Column>) -> SelectStatement {
        let mut pick = Query::select();
        pick.column(self.id)
            .from(E::default())
            .cond_where(self.due(claim.now))
            .order_by(self.next_attempt_at, Order::Asc)
            .order_by(self.id, Order::Asc)
            .limit(claim.limit);
        if let Some(ids) = claim.among {
            pick.and_where(self.id.is_in(ids.iter().copied()));
        }
        pick
    }

    /// The claim's writes, on no row yet.
    fn take(&self, claim: &Claim<'_, E::Column>) -> UpdateStatement {
        let mut update = Query::update();
        update
            .table(E::default())
            .value(self.claimed_until, claim.lease_until);
        if let Some(attempts) = self.attempts_on_claim {
            update.value(attempts, Expr::col(attempts).add(1));
        }
        if let Some((column, token)) = claim.token {
            update.value(column, token);
        }
        update
    }
}

impl Store {
    /// Claims due rows of `outbox` until `claim.lease_until` and returns their ids. On
    /// PostgreSQL one statement with `FOR UPDATE SKIP LOCKED` (rows another worker is claiming
    /// are passed over, not waited for); on SQLite (one writer at a time) each candidate is
    /// taken with a conditional update, if it is still due then.
    pub(super) async fn claim_due<E: EntityTrait>(
        &self,
        outbox: &Outbox<E>,
        claim: Claim<'_, E::Column>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let id = outbox.id.as_str();
        let mut pick = outbox.candidates(&claim);
        let mut take = outbox.take(&claim);
        if self.db.get_database_backend() == DbBackend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
            take.and_where(Expr::col(outbox.id).in_subquery(pick))
                .returning_col(outbox.id);
            let rows = self.db.query_all(&take).await?;
            return Ok(rows
                .iter()
                .map(|r| r.try_get::<Uuid>("", id))
                .collect::<Result<_, _>>()?);
        }
        let candidates = self.db.query_all(&pick).await?;
        let mut taken = Vec::with_capacity(candidates.len());
        for row in candidates {
            let row: Uuid = row.try_get("", id)?;
            let mut one = take.clone();
            one.cond_where(outbox.due(claim.now))
                .and_where(outbox.id.eq(row));
            if self.db.execute(&one).await?.rows_affected() == 1 {
                taken.push(row);
            }
        }
        Ok(taken)
    }
}
