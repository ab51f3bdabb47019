//! App sessions: one per (IdP session, app) code exchange, with the app's own idle and absolute
//! deadlines and the reason it ended. Refresh tokens and introspection answers hang off it.

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
enum AppSessions {
    Table,
    Id,
    OrgId,
    AppId,
    SessionId,
    UserId,
    CodeHash,
    Scope,
    AuthTime,
    Acr,
    Amr,
    OutlivesIdpSession,
    CreatedAt,
    LastActiveAt,
    IdleDeadline,
    AbsoluteExpiry,
    EndedAt,
    EndReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppSessions::Table)
                    .col(uuid(AppSessions::Id).primary_key())
                    .col(uuid(AppSessions::OrgId))
                    .col(uuid(AppSessions::AppId))
                    // The IdP session (`sid`). Not a foreign key: the record outlives the row's
                    // purpose for audits, and sessions are never deleted before their app sessions.
                    .col(uuid(AppSessions::SessionId))
                    .col(uuid(AppSessions::UserId))
                    // SHA-256 of the authorization code it was created from (code reuse revokes it).
                    .col(string_len(AppSessions::CodeHash, 64))
                    .col(string_len(AppSessions::Scope, 1000))
                    .col(timestamp_with_time_zone(AppSessions::AuthTime))
                    .col(string_len(AppSessions::Acr, 64))
                    .col(string_len(AppSessions::Amr, 128))
                    .col(boolean(AppSessions::OutlivesIdpSession))
                    .col(timestamp_with_time_zone(AppSessions::CreatedAt))
                    .col(timestamp_with_time_zone(AppSessions::LastActiveAt))
                    .col(timestamp_with_time_zone_null(AppSessions::IdleDeadline))
                    .col(timestamp_with_time_zone(AppSessions::AbsoluteExpiry))
                    .col(timestamp_with_time_zone_null(AppSessions::EndedAt))
                    .col(string_len_null(AppSessions::EndReason, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_app_sessions_org")
                            .from(AppSessions::Table, AppSessions::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_app_sessions_app")
                            .from(AppSessions::Table, AppSessions::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_app_sessions_org_code")
                    .table(AppSessions::Table)
                    .col(AppSessions::OrgId)
                    .col(AppSessions::CodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_app_sessions_org_session")
                    .table(AppSessions::Table)
                    .col(AppSessions::OrgId)
                    .col(AppSessions::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AppSessions::Table).to_owned())
            .await
    }
}
