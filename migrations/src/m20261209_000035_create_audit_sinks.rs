//! Audit streaming (issue 21): each org's optional audit sink, and a per-org delivery sequence
//! on audit events. Expand-only: a new table, a nullable column and two indexes; nothing
//! existing changes, and a node of the previous release keeps writing events (their `seq` is
//! NULL until the sink's worker numbers them, which is how every event starts).
//!
//! `audit_events.seq` is assigned after commit by the worker holding the org's sink lease, in
//! the order the events become visible to it, so a transaction that commits late is numbered
//! late instead of being passed by a cursor (see ARCHITECTURE.md, "Audit sink").
//! `ix_audit_events_unsequenced` (partial: `seq IS NULL`) finds the events still to number;
//! `ux_audit_events_org_seq` makes a number unique per org and serves the batches.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    OrgId,
    At,
    Seq,
}

#[derive(DeriveIden)]
enum AuditSinks {
    Table,
    OrgId,
    Url,
    SealedSecret,
    Status,
    DeliverFrom,
    LastSeq,
    DeliveredSeq,
    BatchId,
    BatchEnd,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimToken,
    LastAttemptAt,
    LastSuccessAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditSinks::Table)
                    .col(uuid(AuditSinks::OrgId).primary_key())
                    .col(text(AuditSinks::Url))
                    .col(text(AuditSinks::SealedSecret))
                    .col(string_len(AuditSinks::Status, 16))
                    .col(timestamp_with_time_zone(AuditSinks::DeliverFrom))
                    .col(big_integer(AuditSinks::LastSeq))
                    .col(big_integer(AuditSinks::DeliveredSeq))
                    .col(uuid_null(AuditSinks::BatchId))
                    .col(big_integer_null(AuditSinks::BatchEnd))
                    .col(integer(AuditSinks::Attempts))
                    .col(timestamp_with_time_zone(AuditSinks::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(AuditSinks::ClaimedUntil))
                    .col(uuid_null(AuditSinks::ClaimToken))
                    .col(timestamp_with_time_zone_null(AuditSinks::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(AuditSinks::LastSuccessAt))
                    .col(text_null(AuditSinks::LastError))
                    .col(timestamp_with_time_zone(AuditSinks::CreatedAt))
                    .col(timestamp_with_time_zone(AuditSinks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_sinks_org")
                            .from(AuditSinks::Table, AuditSinks::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(big_integer_null(AuditEvents::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_events_org_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrgId)
                    .col(AuditEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_unsequenced")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrgId)
                    .col(AuditEvents::At)
                    .and_where(Expr::col(AuditEvents::Seq).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["ix_audit_events_unsequenced", "ux_audit_events_org_seq"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(AuditEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditSinks::Table).to_owned())
            .await
    }
}
