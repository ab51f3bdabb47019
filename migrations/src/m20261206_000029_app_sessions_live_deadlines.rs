//! Indexes for the app-session sweeper, which looks across orgs for live app sessions past
//! their idle deadline or lifetime (as `ix_sessions_live_idle` does for IdP sessions), and for
//! the housekeeping purge, whose delete of an ended app session cascades to its refresh tokens
//! (found by `app_session_id`, not by a scan of the table).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    AppSessionId,
}

#[derive(DeriveIden)]
enum AppSessions {
    Table,
    EndedAt,
    IdleDeadline,
    AbsoluteExpiry,
}

const IDLE: &str = "ix_app_sessions_live_idle";
const ABSOLUTE: &str = "ix_app_sessions_live_absolute";
const REFRESH_BY_APP_SESSION: &str = "ix_refresh_tokens_app_session";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, deadline) in [
            (IDLE, AppSessions::IdleDeadline),
            (ABSOLUTE, AppSessions::AbsoluteExpiry),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AppSessions::Table)
                        .col(AppSessions::EndedAt)
                        .col(deadline)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(REFRESH_BY_APP_SESSION)
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::AppSessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(REFRESH_BY_APP_SESSION)
                    .table(RefreshTokens::Table)
                    .to_owned(),
            )
            .await?;
        for name in [IDLE, ABSOLUTE] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(AppSessions::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
