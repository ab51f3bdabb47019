//! Org rows.

use super::entities::{audit_events, orgs};
use super::{Store, StoreError, insert_audit};
use crate::audit::AuditEvent;
use crate::tenancy::{Branding, Org, OrgId, OrgSlug, OrgStatus, SignupMode, SignupPolicy};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

fn to_org(m: orgs::Model) -> Result<Org, StoreError> {
    let slug = OrgSlug::parse(&m.slug).map_err(|e| StoreError::Encoding(e.to_string()))?;
    Ok(Org {
        id: OrgId(m.id),
        slug,
        name: m.name,
        status: OrgStatus::from_db(&m.status),
        created_at: m.created_at,
        branding: Branding {
            logo_url: m.logo_url,
            accent_color: m.accent_color,
        },
        signup: SignupPolicy {
            mode: SignupMode::from_db(&m.signup_mode),
            require_verified_email: m.require_verified_email,
        },
    })
}

impl Store {
    /// Inserts an org and its `org.created` audit event in one transaction.
    pub async fn create_org(
        &self,
        slug: &OrgSlug,
        name: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, StoreError> {
        let txn = self.begin_write().await?;
        let id = Uuid::now_v7();
        let model = orgs::ActiveModel {
            id: Set(id),
            slug: Set(slug.as_str().to_owned()),
            name: Set(name.to_owned()),
            status: Set(OrgStatus::Active.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            logo_url: Set(None),
            accent_color: Set(None),
            signup_mode: Set(SignupMode::Off.as_str().to_owned()),
            require_verified_email: Set(true),
        }
        .insert(&txn)
        .await?;
        let event = AuditEvent {
            org_id: OrgId(id),
            actor: actor.to_owned(),
            action: "org.created",
            target: Some(id.to_string()),
            details: serde_json::json!({ "slug": slug.as_str() }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        to_org(model)
    }

    pub async fn org_by_slug(&self, slug: &OrgSlug) -> Result<Option<Org>, StoreError> {
        orgs::Entity::find()
            .filter(orgs::Column::Slug.eq(slug.as_str()))
            .one(&self.db)
            .await?
            .map(to_org)
            .transpose()
    }

    /// One page of the orgs, oldest first, and how many there are (operators' list, paged by
    /// the database).
    pub async fn orgs_page(&self, offset: u64, limit: u64) -> Result<(Vec<Org>, u64), StoreError> {
        use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
        let total = orgs::Entity::find().count(&self.db).await?;
        let orgs = orgs::Entity::find()
            .order_by_asc(orgs::Column::CreatedAt)
            .order_by_asc(orgs::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_org)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((orgs, total))
    }

    pub async fn org_by_id(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        orgs::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .map(to_org)
            .transpose()
    }

    /// Sets an org's status with an audit event; `NotFound` if no such org.
    pub async fn set_org_status(
        &self,
        slug: &OrgSlug,
        status: OrgStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, StoreError> {
        let txn = self.begin_write().await?;
        let found = orgs::Entity::find()
            .filter(orgs::Column::Slug.eq(slug.as_str()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = found.id;
        let mut active: orgs::ActiveModel = found.into();
        active.status = Set(status.as_str().to_owned());
        active.updated_at = Set(now);
        let model = active.update(&txn).await?;
        let event = AuditEvent {
            org_id: OrgId(id),
            actor: actor.to_owned(),
            action: "org.status_changed",
            target: Some(id.to_string()),
            details: serde_json::json!({ "status": status.as_str() }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        to_org(model)
    }

    /// Updates an org's display name and branding, with an audit event.
    pub async fn update_org(
        &self,
        slug: &OrgSlug,
        name: &str,
        branding: &Branding,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, StoreError> {
        let txn = self.begin_write().await?;
        let found = orgs::Entity::find()
            .filter(orgs::Column::Slug.eq(slug.as_str()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = found.id;
        let mut active: orgs::ActiveModel = found.into();
        active.name = Set(name.to_owned());
        active.logo_url = Set(branding.logo_url.clone());
        active.accent_color = Set(branding.accent_color.clone());
        active.updated_at = Set(now);
        let model = active.update(&txn).await?;
        let event = AuditEvent {
            org_id: OrgId(id),
            actor: actor.to_owned(),
            action: "org.updated",
            target: Some(id.to_string()),
            details: serde_json::json!({ "name": name, "logo_url": branding.logo_url, "accent_color": branding.accent_color }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        to_org(model)
    }

    /// Changes an org's sign-up rules, with an audit event.
    pub async fn set_org_signup(
        &self,
        org: OrgId,
        policy: SignupPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Org, StoreError> {
        let txn = self.begin_write().await?;
        let found = orgs::Entity::find_by_id(org.0)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: orgs::ActiveModel = found.into();
        active.signup_mode = Set(policy.mode.as_str().to_owned());
        active.require_verified_email = Set(policy.require_verified_email);
        active.updated_at = Set(now);
        let model = active.update(&txn).await?;
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "org.signup_policy_changed",
            target: Some(org.to_string()),
            details: serde_json::json!({
                "mode": policy.mode.as_str(),
                "require_verified_email": policy.require_verified_email,
            }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        to_org(model)
    }

    /// Number of orgs (tests and the demo check the database is unchanged after a failure).
    pub async fn count_orgs(&self) -> Result<u64, StoreError> {
        Ok(orgs::Entity::find().count(&self.db).await?)
    }

    /// Number of audit events recorded for an org.
    pub async fn count_audit_events(&self, org: OrgId) -> Result<u64, StoreError> {
        Ok(audit_events::Entity::find()
            .filter(audit_events::Column::OrgId.eq(org.0))
            .count(&self.db)
            .await?)
    }
}
