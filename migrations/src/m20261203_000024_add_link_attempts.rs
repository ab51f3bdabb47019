//! Attempts per emailed link: an address verification link is used together with the password
//! chosen at sign-up, so each try is a guess. `attempts` counts them on the link's row (and on a
//! pending sign-up's), taken with a conditional update before the password is checked, so the
//! bound holds for the link's whole life, across nodes and across cache flushes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailLinks {
    Table,
    Attempts,
}

#[derive(DeriveIden)]
enum PendingSignups {
    Table,
    Attempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EmailLinks::Table)
                    .add_column(integer(EmailLinks::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PendingSignups::Table)
                    .add_column(integer(PendingSignups::Attempts).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PendingSignups::Table)
                    .drop_column(PendingSignups::Attempts)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EmailLinks::Table)
                    .drop_column(EmailLinks::Attempts)
                    .to_owned(),
            )
            .await
    }
}
