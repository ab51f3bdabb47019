//! Org MFA policy (`off`, `optional`, `required`, `app_requested`) next to the session policy.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrgSessionPolicies {
    Table,
    MfaPolicy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrgSessionPolicies::Table)
                    .add_column(string_len(OrgSessionPolicies::MfaPolicy, 16).default("optional"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrgSessionPolicies::Table)
                    .drop_column(OrgSessionPolicies::MfaPolicy)
                    .to_owned(),
            )
            .await
    }
}
