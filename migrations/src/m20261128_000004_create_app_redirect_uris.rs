//! Redirect URIs of apps: sign-in callbacks and post-logout destinations, matched exactly.

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
enum AppRedirectUris {
    Table,
    Id,
    OrgId,
    AppId,
    Kind,
    Uri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppRedirectUris::Table)
                    .col(uuid(AppRedirectUris::Id).primary_key())
                    .col(uuid(AppRedirectUris::OrgId))
                    .col(uuid(AppRedirectUris::AppId))
                    // `redirect` or `post_logout`.
                    .col(string_len(AppRedirectUris::Kind, 16))
                    .col(string_len(AppRedirectUris::Uri, 2048))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_app_redirect_uris_org")
                            .from(AppRedirectUris::Table, AppRedirectUris::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_app_redirect_uris_app")
                            .from(AppRedirectUris::Table, AppRedirectUris::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_app_redirect_uris_org_app")
                    .table(AppRedirectUris::Table)
                    .col(AppRedirectUris::OrgId)
                    .col(AppRedirectUris::AppId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AppRedirectUris::Table).to_owned())
            .await
    }
}
