//! A claim token on each logout delivery: the worker that claims a row writes a fresh token with
//! its (short) lease, renews the lease and records the outcome only where the token is still its
//! own, so a worker whose lease ran out can neither extend nor overwrite another worker's claim.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogoutDeliveries {
    Table,
    ClaimToken,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LogoutDeliveries::Table)
                    .add_column(uuid_null(LogoutDeliveries::ClaimToken))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LogoutDeliveries::Table)
                    .drop_column(LogoutDeliveries::ClaimToken)
                    .to_owned(),
            )
            .await
    }
}
