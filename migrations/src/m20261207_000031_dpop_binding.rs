//! DPoP (RFC 9449): the JWK SHA-256 thumbprint (RFC 7638) an app session's tokens are bound to
//! (`dpop_jkt`), set once at the code exchange when the client sent a DPoP proof, never changed.
//! A public client's refresh must then present a proof made with that key; NULL is unbound.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppSessions {
    Table,
    DpopJkt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AppSessions::Table)
                    .add_column(string_len_null(AppSessions::DpopJkt, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AppSessions::Table)
                    .drop_column(AppSessions::DpopJkt)
                    .to_owned(),
            )
            .await
    }
}
