//! Per-org email templates: an org may replace the subject, text and HTML of each kind of
//! message; no row means the built-in text.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailTemplates {
    Table,
    OrgId,
    Kind,
    Subject,
    TextBody,
    HtmlBody,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailTemplates::Table)
                    .col(uuid(EmailTemplates::OrgId))
                    .col(string_len(EmailTemplates::Kind, 30))
                    .col(string_len(EmailTemplates::Subject, 200))
                    .col(text(EmailTemplates::TextBody))
                    .col(text(EmailTemplates::HtmlBody))
                    .col(timestamp_with_time_zone(EmailTemplates::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(EmailTemplates::OrgId)
                            .col(EmailTemplates::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_templates_org")
                            .from(EmailTemplates::Table, EmailTemplates::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailTemplates::Table).to_owned())
            .await
    }
}
