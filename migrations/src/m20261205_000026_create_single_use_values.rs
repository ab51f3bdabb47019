//! Single-use values a flow cannot do without (authorization codes, WebAuthn ceremony state,
//! pending sign-in steps): in the database, so they survive a cache outage, and taken with one
//! `DELETE … RETURNING`, so each is used once across nodes. Keys are SHA-256 hashes of the
//! secret values; rows past `expires_at` are refused at once and swept later.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SingleUseValues {
    Table,
    OrgId,
    Kind,
    KeyHash,
    Value,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SingleUseValues::Table)
                    .col(uuid(SingleUseValues::OrgId))
                    .col(string_len(SingleUseValues::Kind, 32))
                    .col(string_len(SingleUseValues::KeyHash, 64))
                    .col(text(SingleUseValues::Value))
                    .col(timestamp_with_time_zone(SingleUseValues::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(SingleUseValues::OrgId)
                            .col(SingleUseValues::Kind)
                            .col(SingleUseValues::KeyHash),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_single_use_values_org")
                            .from(SingleUseValues::Table, SingleUseValues::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // For the sweeper, which looks across orgs.
        manager
            .create_index(
                Index::create()
                    .name("ix_single_use_values_expires_at")
                    .table(SingleUseValues::Table)
                    .col(SingleUseValues::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SingleUseValues::Table).to_owned())
            .await
    }
}
