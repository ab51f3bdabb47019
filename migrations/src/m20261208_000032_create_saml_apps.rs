//! SAML apps (issue 20): an app of type `saml` has one row here, keyed by org and app id, with
//! its SP entity id (unique in the org: the `Issuer` of the SP's requests names the app) and
//! the rest of its SAML settings as one JSON document (ACS URLs, Single Logout endpoint, NameID
//! format, attributes, signing choices, SP certificates). Its name, session profile and rules
//! stay in `apps`, as for OIDC apps. Expand-only: a new table, nothing existing changes.

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
enum SamlApps {
    Table,
    OrgId,
    AppId,
    SpEntityId,
    Settings,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SamlApps::Table)
                    .col(uuid(SamlApps::OrgId))
                    .col(uuid(SamlApps::AppId))
                    // At most 1024 bytes (checked on the way in): within PostgreSQL's B-tree
                    // row limit for the unique index below.
                    .col(string_len(SamlApps::SpEntityId, 1024))
                    .col(text(SamlApps::Settings))
                    .primary_key(Index::create().col(SamlApps::OrgId).col(SamlApps::AppId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_saml_apps_org")
                            .from(SamlApps::Table, SamlApps::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_saml_apps_app")
                            .from(SamlApps::Table, SamlApps::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One SP per entity id in an org; another org may register the same SP.
        manager
            .create_index(
                Index::create()
                    .name("ux_saml_apps_org_entity_id")
                    .table(SamlApps::Table)
                    .col(SamlApps::OrgId)
                    .col(SamlApps::SpEntityId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SamlApps::Table).to_owned())
            .await
    }
}
