//! The org's SAML signing key beside each JOSE signing key row (issue 20): an RSA private key
//! sealed like `private_key` (AES-256-GCM, associated data `org:kid:saml`) and its self-signed
//! X.509 certificate (base64 DER). Both NULL until the row is first used for SAML; filled once
//! (a conditional update), published, signing and retired with the row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    SamlPrivateKey,
    SamlCertificate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [SigningKeys::SamlPrivateKey, SigningKeys::SamlCertificate] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SigningKeys::SamlCertificate, SigningKeys::SamlPrivateKey] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
