//! One signing key per org without an end of publication (`expires_at IS NULL`): the newest.
//! Creating a key retires the open one in the same transaction, so this always held for one
//! caller at a time; parallel first uses (30 parallel JWKS requests on an org without keys)
//! each made a key. A partial unique index makes the database refuse the second open key, on
//! SQLite and PostgreSQL alike, and the losers read the winner's key (`Store::insert_signing_key`).
//!
//! Orgs that already raced keep their newest open key; the others stay published for a day
//! (the longest life of a signed token), as a rotation would have left them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    OrgId,
    ExpiresAt,
}

const INDEX: &str = "ux_signing_keys_one_open_per_org";
/// `apps::MAX_SIGNED_TOKEN_TTL_SECS`: no token signed by a retired key outlives this.
const RETIRED_KEY_PUBLISHED_SECS: i64 = 86_400;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let retire_at = chrono::Utc::now() + chrono::Duration::seconds(RETIRED_KEY_PUBLISHED_SECS);
        // An open key with a newer open sibling (by activation, creation, then id) retires.
        let retire = Query::update()
            .table(SigningKeys::Table)
            .value(SigningKeys::ExpiresAt, retire_at)
            .and_where(Expr::col(SigningKeys::ExpiresAt).is_null())
            .and_where(Expr::cust(
                "EXISTS (SELECT 1 FROM signing_keys n WHERE n.org_id = signing_keys.org_id \
                 AND n.expires_at IS NULL AND (n.activates_at > signing_keys.activates_at \
                 OR (n.activates_at = signing_keys.activates_at \
                 AND (n.created_at > signing_keys.created_at \
                 OR (n.created_at = signing_keys.created_at AND n.id > signing_keys.id)))))",
            ))
            .to_owned();
        db.execute(&retire).await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(SigningKeys::Table)
                    .col(SigningKeys::OrgId)
                    .unique()
                    .and_where(Expr::col(SigningKeys::ExpiresAt).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(SigningKeys::Table)
                    .to_owned(),
            )
            .await
    }
}
