//! Apps: the OpenID Connect clients registered in an org.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    OrgId,
    ClientId,
    Name,
    AppType,
    ClientSecretHash,
    BackchannelLogoutUri,
    FrontchannelLogoutUri,
    SessionProfile,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Apps::Table)
                    .col(uuid(Apps::Id).primary_key())
                    .col(uuid(Apps::OrgId))
                    .col(string_len(Apps::ClientId, 64))
                    .col(string_len(Apps::Name, 200))
                    .col(string_len(Apps::AppType, 16))
                    // SHA-256 of a 256-bit random secret; null for public clients.
                    .col(string_len_null(Apps::ClientSecretHash, 128))
                    .col(string_len_null(Apps::BackchannelLogoutUri, 2048))
                    .col(string_len_null(Apps::FrontchannelLogoutUri, 2048))
                    .col(string_len(Apps::SessionProfile, 16))
                    .col(string_len_null(Apps::Role, 16))
                    .col(timestamp_with_time_zone(Apps::CreatedAt))
                    .col(timestamp_with_time_zone(Apps::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_apps_org")
                            .from(Apps::Table, Apps::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_apps_org_client_id")
                    .table(Apps::Table)
                    .col(Apps::OrgId)
                    .col(Apps::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Apps::Table).to_owned())
            .await
    }
}
