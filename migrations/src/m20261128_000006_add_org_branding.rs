//! Org branding shown on the hosted pages: a logo URL and an accent colour.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    LogoUrl,
    AccentColor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .add_column(string_len_null(Orgs::LogoUrl, 2048))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .add_column(string_len_null(Orgs::AccentColor, 7))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .drop_column(Orgs::AccentColor)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .drop_column(Orgs::LogoUrl)
                    .to_owned(),
            )
            .await
    }
}
