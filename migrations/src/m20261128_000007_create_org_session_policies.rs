//! Per-org IdP session policy. No row means the documented defaults.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrgSessionPolicies {
    Table,
    OrgId,
    IdleTimeoutSecs,
    AbsoluteLifetimeSecs,
    RememberMeAllowed,
    RememberMeLifetimeSecs,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrgSessionPolicies::Table)
                    // The primary key is the org id, so the table's index starts with it.
                    .col(uuid(OrgSessionPolicies::OrgId).primary_key())
                    .col(big_integer(OrgSessionPolicies::IdleTimeoutSecs))
                    .col(big_integer(OrgSessionPolicies::AbsoluteLifetimeSecs))
                    .col(boolean(OrgSessionPolicies::RememberMeAllowed))
                    .col(big_integer(OrgSessionPolicies::RememberMeLifetimeSecs))
                    .col(timestamp_with_time_zone(OrgSessionPolicies::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_session_policies_org")
                            .from(OrgSessionPolicies::Table, OrgSessionPolicies::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrgSessionPolicies::Table).to_owned())
            .await
    }
}
