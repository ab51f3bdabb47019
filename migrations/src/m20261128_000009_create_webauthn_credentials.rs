//! WebAuthn credentials (passkeys and security keys), org-scoped like everything else.

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
enum WebauthnCredentials {
    Table,
    Id,
    OrgId,
    UserId,
    CredentialId,
    Kind,
    Name,
    Credential,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCredentials::Table)
                    .col(uuid(WebauthnCredentials::Id).primary_key())
                    .col(uuid(WebauthnCredentials::OrgId))
                    .col(uuid(WebauthnCredentials::UserId))
                    // base64url of the authenticator's credential id.
                    .col(string_len(WebauthnCredentials::CredentialId, 1400))
                    // `passkey` or `security_key`.
                    .col(string_len(WebauthnCredentials::Kind, 16))
                    .col(string_len(WebauthnCredentials::Name, 100))
                    // The webauthn-rs credential (public key, counter, flags) as JSON.
                    .col(text(WebauthnCredentials::Credential))
                    .col(timestamp_with_time_zone(WebauthnCredentials::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebauthnCredentials::LastUsedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_credentials_org")
                            .from(WebauthnCredentials::Table, WebauthnCredentials::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_credentials_user")
                            .from(WebauthnCredentials::Table, WebauthnCredentials::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_webauthn_credentials_org_credential")
                    .table(WebauthnCredentials::Table)
                    .col(WebauthnCredentials::OrgId)
                    .col(WebauthnCredentials::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webauthn_credentials_org_user")
                    .table(WebauthnCredentials::Table)
                    .col(WebauthnCredentials::OrgId)
                    .col(WebauthnCredentials::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebauthnCredentials::Table).to_owned())
            .await
    }
}
