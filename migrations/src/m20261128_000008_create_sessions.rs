//! IdP sessions: one row per sign-in, kept after it ends (with the reason) for the account page,
//! audits and Single Logout.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    OrgId,
    UserId,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    IdleDeadline,
    AbsoluteExpiry,
    RememberMe,
    AuthTime,
    PasswordAt,
    WebauthnAt,
    UserAgent,
    Ip,
    EndedAt,
    EndReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::OrgId))
                    .col(uuid(Sessions::UserId))
                    // SHA-256 of the 256-bit cookie value; the value itself is never stored.
                    .col(string_len(Sessions::TokenHash, 64))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::IdleDeadline))
                    .col(timestamp_with_time_zone(Sessions::AbsoluteExpiry))
                    .col(boolean(Sessions::RememberMe))
                    .col(timestamp_with_time_zone(Sessions::AuthTime))
                    .col(timestamp_with_time_zone_null(Sessions::PasswordAt))
                    .col(timestamp_with_time_zone_null(Sessions::WebauthnAt))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .col(string_len_null(Sessions::Ip, 64))
                    .col(timestamp_with_time_zone_null(Sessions::EndedAt))
                    .col(string_len_null(Sessions::EndReason, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_org")
                            .from(Sessions::Table, Sessions::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_sessions_org_token")
                    .table(Sessions::Table)
                    .col(Sessions::OrgId)
                    .col(Sessions::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_org_user")
                    .table(Sessions::Table)
                    .col(Sessions::OrgId)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        // The sweeper looks across orgs for live sessions past a deadline.
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_live_idle")
                    .table(Sessions::Table)
                    .col(Sessions::EndedAt)
                    .col(Sessions::IdleDeadline)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}
