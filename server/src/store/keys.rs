//! Signing key rows. Every query is scoped by org id.

use super::entities::signing_keys;
use super::{Store, StoreError, insert_audit};
use crate::audit::AuditEvent;
use crate::keys::{SigningAlg, StoredKey, StoredSamlKey};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

fn corrupt(what: String) -> StoreError {
    StoreError::Encoding(what)
}

impl Store {
    /// Inserts a key; with `retire_at`, keys without an end of publication get it (they stop
    /// signing when this one activates). One transaction, with the audit event.
    ///
    /// Without `retire_at` (an org's first key) nothing is retired, and the one-open-key-per-org
    /// index (`ux_signing_keys_one_open_per_org`) refuses the insert with `Conflict` when another
    /// caller's key is there (or is being inserted: PostgreSQL waits for that transaction, SQLite
    /// serialises writers), so parallel first uses end with one key.
    pub async fn insert_signing_key(
        &self,
        org: OrgId,
        key: &StoredKey,
        retire_at: Option<DateTime<Utc>>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        if let Some(retire_at) = retire_at {
            signing_keys::Entity::update_many()
                .col_expr(signing_keys::Column::ExpiresAt, Expr::value(retire_at))
                .filter(signing_keys::Column::OrgId.eq(org.0))
                .filter(signing_keys::Column::ExpiresAt.is_null())
                .exec(&txn)
                .await?;
        }
        let row = signing_keys::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org.0),
            kid: Set(key.kid.clone()),
            alg: Set(key.alg.as_str().to_owned()),
            private_key: Set(key.encrypted_private_key.clone()),
            public_jwk: Set(key.public_jwk.to_string()),
            created_at: Set(key.created_at),
            activates_at: Set(key.activates_at),
            expires_at: Set(None),
            // Made on the row's first SAML use (`set_saml_key`); left out of the insert.
            saml_private_key: NotSet,
            saml_certificate: NotSet,
        };
        // Without RETURNING: a database migrated down (tests of older migrations) has no SAML
        // columns, and the row is not read back anyway.
        signing_keys::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "signing_key.created",
            target: Some(key.kid.clone()),
            details: serde_json::json!({ "alg": key.alg.as_str(), "activates_at": key.activates_at }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The org's published keys at `now` (oldest first).
    pub async fn signing_keys(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self
            .signing_keys_with_saml(org, now)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// The org's published keys at `now` (oldest first), each with its SAML key if made.
    pub async fn signing_keys_with_saml(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<(StoredKey, Option<StoredSamlKey>)>, StoreError> {
        let rows = signing_keys::Entity::find()
            .filter(signing_keys::Column::OrgId.eq(org.0))
            .filter(
                Condition::any()
                    .add(signing_keys::Column::ExpiresAt.is_null())
                    .add(signing_keys::Column::ExpiresAt.gt(now)),
            )
            .order_by_asc(signing_keys::Column::ActivatesAt)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|m| {
                let alg: SigningAlg = m.alg.parse().map_err(corrupt)?;
                let saml = match (m.saml_private_key, m.saml_certificate) {
                    (Some(encrypted_private_key), Some(certificate)) => Some(StoredSamlKey {
                        encrypted_private_key,
                        certificate,
                    }),
                    _ => None,
                };
                let key = StoredKey {
                    kid: m.kid,
                    alg,
                    encrypted_private_key: m.private_key,
                    public_jwk: serde_json::from_str(&m.public_jwk)
                        .map_err(|e| corrupt(e.to_string()))?,
                    created_at: m.created_at,
                    activates_at: m.activates_at,
                    expires_at: m.expires_at,
                };
                Ok((key, saml))
            })
            .collect()
    }

    /// Gives the key `kid` its SAML key, unless it has one already (another node made it
    /// first: that one stays, and the caller reads it). Whether this one was stored.
    pub async fn set_saml_key(
        &self,
        org: OrgId,
        kid: &str,
        saml: &StoredSamlKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let done = signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::SamlPrivateKey,
                Expr::value(saml.encrypted_private_key.clone()),
            )
            .col_expr(
                signing_keys::Column::SamlCertificate,
                Expr::value(saml.certificate.clone()),
            )
            .filter(signing_keys::Column::OrgId.eq(org.0))
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::SamlCertificate.is_null())
            .exec(&txn)
            .await?;
        let stored = done.rows_affected == 1;
        if stored {
            let event = AuditEvent {
                org_id: org,
                actor: "first_use".to_owned(),
                action: "saml_certificate.created",
                target: Some(kid.to_owned()),
                details: serde_json::json!({}),
            };
            insert_audit(&txn, &event, now).await?;
        }
        txn.commit().await?;
        Ok(stored)
    }
}
