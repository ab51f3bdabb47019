//! Per-org token signing keys: private halves encrypted at rest, public halves as JWKs.

use crate::Orgs;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    OrgId,
    Kid,
    Alg,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    ActivatesAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(uuid(SigningKeys::Id).primary_key())
                    .col(uuid(SigningKeys::OrgId))
                    .col(string_len(SigningKeys::Kid, 64))
                    // `ES256` or `RS256`.
                    .col(string_len(SigningKeys::Alg, 16))
                    // base64url(nonce ‖ AES-256-GCM ciphertext of the DER private key).
                    .col(text(SigningKeys::PrivateKey))
                    .col(text(SigningKeys::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    // Published at once; signs from this instant (rotation with overlap).
                    .col(timestamp_with_time_zone(SigningKeys::ActivatesAt))
                    // Leaves the JWKS at this instant (set when a successor is created).
                    .col(timestamp_with_time_zone_null(SigningKeys::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_signing_keys_org")
                            .from(SigningKeys::Table, SigningKeys::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_signing_keys_org_kid")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::OrgId)
                    .col(SigningKeys::Kid)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}
