//! Single-use values a flow cannot do without: authorization codes, WebAuthn ceremony state and
//! pending sign-in steps. They live in the database (the cache may be away while a user is in
//! the middle of a flow), keyed by (org, kind, SHA-256 of the secret value): the secret itself
//! is never stored. `take` is one `DELETE … RETURNING` statement (PostgreSQL, and SQLite since
//! 3.35), so of any number of takers on any number of nodes exactly one gets the value. Expiry is
//! checked against the caller's `now` (the injected clock); expired rows are refused at once and
//! deleted by the sweeper (`sweep_single_use`).

use super::{Store, StoreError};
use crate::secrets::sha256_hex;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait, Set,
};

mod single_use_values {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "single_use_values")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_hash: String,
        pub value: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use single_use_values::{Column, Entity};

/// What a single-use value is; part of its key, so a value of one kind is never found as
/// another (a ceremony id is no authorization code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleUseKind {
    /// An authorization code's grant (`oidc::model::CodeGrant`).
    AuthorizationCode,
    /// A WebAuthn ceremony's state.
    WebauthnFlow,
    /// The password step of a sign-in that still needs its second factor.
    PendingLogin,
    /// A pushed authorization request (RFC 9126), as pushed, until /authorize first uses it.
    PushedRequest,
    /// The `jti` of a client assertion (`private_key_jwt`), kept until the assertion expires:
    /// a second one with the same `jti` is a replay.
    ClientAssertion,
    /// A pushed authorization request /authorize has begun (the user signs in or consents),
    /// until its code is issued.
    PushedRequestStarted,
    /// A SAML AuthnRequest's ID (with its SP's entity id), kept while the request could be
    /// accepted: a second one with the same ID is a replay.
    SamlRequestId,
    /// A checked SAML AuthnRequest waiting for the user to sign in, until its Response is sent.
    SamlPendingSso,
    /// A LogoutRequest we sent an SP over the front channel (keyed by its ID), until its
    /// LogoutResponse comes back: which delivery it carries.
    SamlLogoutSent,
    /// The LogoutResponse owed to an SP whose LogoutRequest came over the front channel, kept
    /// while the signed-out page tells the other apps.
    SamlLogoutAnswer,
}

impl SingleUseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "code",
            Self::WebauthnFlow => "webauthn-flow",
            Self::PendingLogin => "pending-login",
            Self::PushedRequest => "par",
            Self::ClientAssertion => "client-assertion",
            Self::PushedRequestStarted => "par-started",
            Self::SamlRequestId => "saml-request-id",
            Self::SamlPendingSso => "saml-sso",
            Self::SamlLogoutSent => "saml-logout-sent",
            Self::SamlLogoutAnswer => "saml-logout-answer",
        }
    }
}

impl Store {
    /// Stores `value` under the hash of `secret` until `expires_at`. The secret is random (a
    /// clash is `Conflict`).
    pub async fn put_single_use(
        &self,
        org: OrgId,
        kind: SingleUseKind,
        secret: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        single_use_values::ActiveModel {
            org_id: Set(org.0),
            kind: Set(kind.as_str().to_owned()),
            key_hash: Set(sha256_hex(secret)),
            value: Set(value.to_owned()),
            expires_at: Set(expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Reads a value without using it up, if it has not expired at `now`.
    pub async fn get_single_use(
        &self,
        org: OrgId,
        kind: SingleUseKind,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(Entity::find()
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::Kind.eq(kind.as_str()))
            .filter(Column::KeyHash.eq(sha256_hex(secret)))
            .filter(Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .map(|m| m.value))
    }

    /// Uses a value up: deletes it and returns it if it had not expired at `now`. One statement,
    /// so concurrent takers (on any node) cannot both get it.
    pub async fn take_single_use(
        &self,
        org: OrgId,
        kind: SingleUseKind,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut delete = Entity::delete_many()
            .filter(Column::OrgId.eq(org.0))
            .filter(Column::Kind.eq(kind.as_str()))
            .filter(Column::KeyHash.eq(sha256_hex(secret)))
            .into_query();
        delete.returning(Query::returning().columns([Column::Value, Column::ExpiresAt]));
        let Some(row) = self.db.query_one(&delete).await? else {
            return Ok(None);
        };
        let value: String = row.try_get("", "value")?;
        let expires_at: DateTime<Utc> = row.try_get("", "expires_at")?;
        Ok((expires_at > now).then_some(value))
    }

    /// Deletes the values that expired before `now`, across orgs (for the sweeper).
    pub async fn sweep_single_use(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
