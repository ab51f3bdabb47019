//! The IdP session a WebAuthn credential was enrolled in: a key added during a sign-in does not
//! raise that sign-in's assurance (it cannot step up the session it was added in).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebauthnCredentials {
    Table,
    EnrolledInSession,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebauthnCredentials::Table)
                    .add_column(uuid_null(WebauthnCredentials::EnrolledInSession))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebauthnCredentials::Table)
                    .drop_column(WebauthnCredentials::EnrolledInSession)
                    .to_owned(),
            )
            .await
    }
}
