//! Orgs (tenants): the root of every other row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
    Slug,
    Name,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orgs::Table)
                    .col(uuid(Orgs::Id).primary_key())
                    .col(string_len(Orgs::Slug, 63).unique_key())
                    .col(string_len(Orgs::Name, 200))
                    .col(string_len(Orgs::Status, 16))
                    .col(timestamp_with_time_zone(Orgs::CreatedAt))
                    .col(timestamp_with_time_zone(Orgs::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Orgs::Table).to_owned())
            .await
    }
}
