//! The logout outbox: one row per (app, IdP session) to notify, written in the transaction that
//! ends the session, delivered by a worker that records every attempt's outcome.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum LogoutDeliveries {
    Table,
    Id,
    OrgId,
    AppId,
    SessionId,
    UserId,
    Reason,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogoutDeliveries::Table)
                    .col(uuid(LogoutDeliveries::Id).primary_key())
                    .col(uuid(LogoutDeliveries::OrgId))
                    .col(uuid(LogoutDeliveries::AppId))
                    // The IdP session (`sid` of the logout token) and its user (`sub`).
                    .col(uuid(LogoutDeliveries::SessionId))
                    .col(uuid(LogoutDeliveries::UserId))
                    .col(string_len(LogoutDeliveries::Reason, 32))
                    // `pending`, `delivered` or `failed`.
                    .col(string_len(LogoutDeliveries::Status, 16))
                    .col(integer(LogoutDeliveries::Attempts))
                    .col(timestamp_with_time_zone(LogoutDeliveries::NextAttemptAt))
                    // A worker's lease: no other worker takes the row before it passes.
                    .col(timestamp_with_time_zone_null(
                        LogoutDeliveries::ClaimedUntil,
                    ))
                    .col(string_len_null(LogoutDeliveries::LastError, 500))
                    .col(timestamp_with_time_zone(LogoutDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(LogoutDeliveries::UpdatedAt))
                    .col(timestamp_with_time_zone_null(LogoutDeliveries::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_logout_deliveries_org")
                            .from(LogoutDeliveries::Table, LogoutDeliveries::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_logout_deliveries_app")
                            .from(LogoutDeliveries::Table, LogoutDeliveries::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_logout_deliveries_org_session")
                    .table(LogoutDeliveries::Table)
                    .col(LogoutDeliveries::OrgId)
                    .col(LogoutDeliveries::SessionId)
                    .to_owned(),
            )
            .await?;
        // The worker looks across orgs for due rows.
        manager
            .create_index(
                Index::create()
                    .name("ix_logout_deliveries_due")
                    .table(LogoutDeliveries::Table)
                    .col(LogoutDeliveries::Status)
                    .col(LogoutDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LogoutDeliveries::Table).to_owned())
            .await
    }
}
