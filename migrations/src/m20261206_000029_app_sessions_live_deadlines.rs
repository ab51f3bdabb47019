//! Indexes for the app-session sweeper, which looks across orgs for live app sessions past
//! their idle deadline or lifetime (as `ix_sessions_live_idle` does for IdP sessions).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppSessions {
    Table,
    EndedAt,
    IdleDeadline,
    AbsoluteExpiry,
}

const IDLE: &str = "ix_app_sessions_live_idle";
const ABSOLUTE: &str = "ix_app_sessions_live_absolute";

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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
