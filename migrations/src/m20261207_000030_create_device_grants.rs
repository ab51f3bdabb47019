//! Device authorization grants (RFC 8628): one row per `/device_authorization` request, keyed
//! by org, with the SHA-256 of its device code and of its normalised user code (neither code
//! is stored), the app that asked, its polling state (interval, last poll, a poll counter the
//! compare-and-set of each poll names) and, once the user answered, who approved it from which
//! IdP session. Rows past `expires_at` are refused at once and deleted by the sweeper.

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
enum DeviceGrants {
    Table,
    Id,
    OrgId,
    AppId,
    DeviceCodeHash,
    UserCodeHash,
    Scope,
    Status,
    IntervalSecs,
    Polls,
    LastPolledAt,
    UserId,
    SessionId,
    AuthTime,
    Acr,
    Amr,
    CreatedAt,
    DecidedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceGrants::Table)
                    .col(uuid(DeviceGrants::Id).primary_key())
                    .col(uuid(DeviceGrants::OrgId))
                    .col(uuid(DeviceGrants::AppId))
                    .col(string_len(DeviceGrants::DeviceCodeHash, 64))
                    .col(string_len(DeviceGrants::UserCodeHash, 64))
                    .col(string_len(DeviceGrants::Scope, 1000))
                    // pending, approved, denied, redeemed
                    .col(string_len(DeviceGrants::Status, 16))
                    .col(big_integer(DeviceGrants::IntervalSecs))
                    .col(big_integer(DeviceGrants::Polls))
                    .col(timestamp_with_time_zone_null(DeviceGrants::LastPolledAt))
                    .col(uuid_null(DeviceGrants::UserId))
                    // The IdP session of the approval (`sid`). Not a foreign key, as for
                    // app sessions.
                    .col(uuid_null(DeviceGrants::SessionId))
                    .col(timestamp_with_time_zone_null(DeviceGrants::AuthTime))
                    .col(string_len_null(DeviceGrants::Acr, 64))
                    .col(string_len_null(DeviceGrants::Amr, 128))
                    .col(timestamp_with_time_zone(DeviceGrants::CreatedAt))
                    .col(timestamp_with_time_zone_null(DeviceGrants::DecidedAt))
                    .col(timestamp_with_time_zone(DeviceGrants::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_device_grants_org")
                            .from(DeviceGrants::Table, DeviceGrants::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_device_grants_app")
                            .from(DeviceGrants::Table, DeviceGrants::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_device_grants_org_device_code")
                    .table(DeviceGrants::Table)
                    .col(DeviceGrants::OrgId)
                    .col(DeviceGrants::DeviceCodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A user code names one grant of its org until the row is swept.
        manager
            .create_index(
                Index::create()
                    .name("ux_device_grants_org_user_code")
                    .table(DeviceGrants::Table)
                    .col(DeviceGrants::OrgId)
                    .col(DeviceGrants::UserCodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // For the sweeper, which looks across orgs.
        manager
            .create_index(
                Index::create()
                    .name("ix_device_grants_expires_at")
                    .table(DeviceGrants::Table)
                    .col(DeviceGrants::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceGrants::Table).to_owned())
            .await
    }
}
