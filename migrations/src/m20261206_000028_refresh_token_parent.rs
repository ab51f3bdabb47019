//! Each refresh token names the token it replaced (`parent_id`, unique): a rotation is one
//! statement that inserts the successor, and of two rotations of one token at once the unique
//! index lets exactly one in. A token is spent once it has a successor (or, for tokens rotated
//! before this migration, once `used_at` is set).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    ParentId,
}

const INDEX: &str = "ux_refresh_tokens_parent";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(uuid_null(RefreshTokens::ParentId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::ParentId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Without `parent_id` a token is spent only by `used_at`: mark every token that has a
        // successor first, or rolling back would make them all usable again.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE refresh_tokens SET used_at = (SELECT s.created_at FROM refresh_tokens s \
                 WHERE s.parent_id = refresh_tokens.id) WHERE used_at IS NULL AND EXISTS \
                 (SELECT 1 FROM refresh_tokens s WHERE s.parent_id = refresh_tokens.id)",
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(RefreshTokens::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(RefreshTokens::ParentId)
                    .to_owned(),
            )
            .await
    }
}
