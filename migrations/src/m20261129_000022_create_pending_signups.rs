//! Sign-ups waiting for their address to be confirmed, in orgs that require a verified address:
//! no user row exists until the link is used (with the password chosen at sign-up), so sign-up
//! cannot create or squat an account, and sign-in does not tell a pending sign-up from an unknown
//! address.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingSignups {
    Table,
    Id,
    OrgId,
    Email,
    Name,
    PasswordHash,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PendingSignups::Table)
                    .col(uuid(PendingSignups::Id).primary_key())
                    .col(uuid(PendingSignups::OrgId))
                    .col(string_len(PendingSignups::Email, 320))
                    .col(string_len_null(PendingSignups::Name, 200))
                    .col(string_len(PendingSignups::PasswordHash, 255))
                    .col(string_len(PendingSignups::TokenHash, 64))
                    .col(timestamp_with_time_zone(PendingSignups::CreatedAt))
                    .col(timestamp_with_time_zone(PendingSignups::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PendingSignups::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pending_signups_org")
                            .from(PendingSignups::Table, PendingSignups::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pending_signups_org_hash")
                    .table(PendingSignups::Table)
                    .col(PendingSignups::OrgId)
                    .col(PendingSignups::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pending_signups_org_email")
                    .table(PendingSignups::Table)
                    .col(PendingSignups::OrgId)
                    .col(PendingSignups::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingSignups::Table).to_owned())
            .await
    }
}
