//! WebAuthn credential rows. Looked up by (org, credential id): a credential registered in one org
//! is unknown in every other.

use super::entities::recovery_codes as codes;
use super::entities::webauthn_credentials as creds;
use super::{Store, StoreError, insert_audit};
use crate::accounts::UserId;
use crate::audit::AuditEvent;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

/// A stored credential; `credential` is the webauthn-rs type as JSON, read by `authn`.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub id: Uuid,
    pub user_id: UserId,
    pub credential_id: String,
    pub kind: String,
    pub name: String,
    pub credential: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The IdP session it was enrolled in (none for keys of an invitation or older rows): it
    /// cannot step that session up.
    pub enrolled_in_session: Option<Uuid>,
}

fn to_stored(m: creds::Model) -> StoredCredential {
    StoredCredential {
        id: m.id,
        user_id: UserId(m.user_id),
        credential_id: m.credential_id,
        kind: m.kind,
        name: m.name,
        credential: m.credential,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        enrolled_in_session: m.enrolled_in_session,
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_credential(
        &self,
        org: OrgId,
        user: UserId,
        credential_id: &str,
        kind: &str,
        name: &str,
        credential: &str,
        enrolled_in_session: Option<Uuid>,
        notice: Option<&crate::email::OutgoingEmail>,
        now: DateTime<Utc>,
    ) -> Result<StoredCredential, StoreError> {
        let txn = self.begin_write().await?;
        if let Some(mail) = notice {
            super::email::queue_email(&txn, org, mail, now).await?;
        }
        let model = creds::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org.0),
            user_id: Set(user.0),
            credential_id: Set(credential_id.to_owned()),
            kind: Set(kind.to_owned()),
            name: Set(name.to_owned()),
            credential: Set(credential.to_owned()),
            created_at: Set(now),
            last_used_at: Set(None),
            enrolled_in_session: Set(enrolled_in_session),
        }
        .insert(&txn)
        .await?;
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "webauthn.credential_added",
            target: Some(model.id.to_string()),
            details: serde_json::json!({ "kind": kind, "name": name }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(to_stored(model))
    }

    pub async fn user_credentials(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Vec<StoredCredential>, StoreError> {
        Ok(creds::Entity::find()
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::UserId.eq(user.0))
            .order_by_asc(creds::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_stored)
            .collect())
    }

    /// Keys of the org's users among `users` (a page of them), oldest first; one query.
    pub async fn credentials_of_users(
        &self,
        org: OrgId,
        users: &[UserId],
    ) -> Result<Vec<StoredCredential>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        Ok(creds::Entity::find()
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .order_by_asc(creds::Column::CreatedAt)
            .order_by_asc(creds::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_stored)
            .collect())
    }

    pub async fn count_user_credentials(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<u64, StoreError> {
        Ok(creds::Entity::find()
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::UserId.eq(user.0))
            .count(&self.db)
            .await?)
    }

    pub async fn credential_by_credential_id(
        &self,
        org: OrgId,
        credential_id: &str,
    ) -> Result<Option<StoredCredential>, StoreError> {
        Ok(creds::Entity::find()
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::CredentialId.eq(credential_id))
            .one(&self.db)
            .await?
            .map(to_stored))
    }

    /// Renames one of the user's credentials; `NotFound` if the user has no such credential.
    pub async fn rename_credential(
        &self,
        org: OrgId,
        user: UserId,
        id: Uuid,
        name: &str,
    ) -> Result<(), StoreError> {
        let result = creds::Entity::update_many()
            .col_expr(creds::Column::Name, Expr::value(name))
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::UserId.eq(user.0))
            .filter(creds::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes one of the user's credentials, with an audit event; `NotFound` if the user (in
    /// this org) has no such credential.
    pub async fn delete_credential(
        &self,
        org: OrgId,
        user: UserId,
        id: Uuid,
        notice: Option<&crate::email::OutgoingEmail>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let result = creds::Entity::delete_many()
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::UserId.eq(user.0))
            .filter(creds::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(mail) = notice {
            super::email::queue_email(&txn, org, mail, now).await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "webauthn.credential_removed",
            target: Some(id.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Replaces the user's recovery codes (given as hashes) in one transaction.
    pub async fn replace_recovery_codes(
        &self,
        org: OrgId,
        user: UserId,
        hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        codes::Entity::delete_many()
            .filter(codes::Column::OrgId.eq(org.0))
            .filter(codes::Column::UserId.eq(user.0))
            .exec(&txn)
            .await?;
        for hash in hashes {
            codes::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(org.0),
                user_id: Set(user.0),
                code_hash: Set(hash.clone()),
                created_at: Set(now),
                used_at: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "recovery_codes.generated",
            target: Some(user.to_string()),
            details: serde_json::json!({ "count": hashes.len() }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Marks an unused code as used; true only for the one request that used it.
    pub async fn use_recovery_code(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let result = codes::Entity::update_many()
            .col_expr(codes::Column::UsedAt, Expr::value(now))
            .filter(codes::Column::OrgId.eq(org.0))
            .filter(codes::Column::UserId.eq(user.0))
            .filter(codes::Column::CodeHash.eq(hash))
            .filter(codes::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        let event = AuditEvent {
            org_id: org,
            actor: format!("user:{user}"),
            action: "recovery_code.used",
            target: Some(user.to_string()),
            details: serde_json::json!({}),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Records a use: the updated credential (counter, backup state) and the time.
    pub async fn credential_used(
        &self,
        org: OrgId,
        id: Uuid,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        creds::Entity::update_many()
            .col_expr(creds::Column::Credential, Expr::value(credential))
            .col_expr(creds::Column::LastUsedAt, Expr::value(now))
            .filter(creds::Column::OrgId.eq(org.0))
            .filter(creds::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
