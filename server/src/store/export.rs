//! Org export and import (issue 21): every exported row of one org read in one snapshot, and an
//! import written in one transaction (nothing half-imported). Which org-owned tables are
//! exported, and why the others are not, is `TABLES`; a test fails when a table with an
//! `org_id` column is in neither list.

use super::entities::{
    apps, consents, email_templates, org_session_policies as policies, orgs, recovery_codes,
    signing_keys, users, webauthn_credentials as creds,
};
use super::{Store, StoreError, insert_audit};
use crate::apps::CONSOLE_CLIENT_ID;
use crate::audit::AuditEvent;
use crate::export::{
    AppRecord, ConsentRecord, CredentialRecord, ImportPlan, KeyRecord, OrgRecord,
    RecoveryCodeRecord, TemplateRecord, UserRecord,
};
use crate::sessions::{MfaPolicy, SessionPolicy};
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, DbBackend,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Every table with an `org_id` column, and whether an org export carries it (`true`) or not.
/// Why not: history of the source deployment (`audit_events`: the target records the import
/// itself); live state that would let a stolen or stale file sign someone in or replay a step
/// (`sessions`, `app_sessions`, `refresh_tokens`, `single_use_values`, `device_grants`,
/// `email_links`, `pending_signups`); side effects already decided at the source
/// (`logout_deliveries`, `email_outbox`); the deployment's own delivery state and a secret sealed
/// with its key (`audit_sinks`: the target's admin sets a sink up again). `orgs` itself is the
/// file's `org`.
pub const TABLES: &[(&str, bool)] = &[
    ("users", true),
    ("apps", true),
    ("app_redirect_uris", true),
    ("saml_apps", true),
    ("org_session_policies", true),
    ("webauthn_credentials", true),
    ("recovery_codes", true),
    ("consents", true),
    ("email_templates", true),
    // Only with `--with-keys` (sealed for the target); otherwise the target makes a fresh key
    // on first use.
    ("signing_keys", true),
    ("audit_events", false),
    ("sessions", false),
    ("app_sessions", false),
    ("refresh_tokens", false),
    ("logout_deliveries", false),
    ("email_outbox", false),
    ("email_links", false),
    ("pending_signups", false),
    ("single_use_values", false),
    ("device_grants", false),
    ("audit_sinks", false),
];

/// What an export reads: the file's parts, signing keys still sealed with this deployment's
/// key-encryption key (the service opens and re-seals them for the target, or drops them).
#[derive(Debug, Clone)]
pub struct ExportRows {
    pub org: OrgRecord,
    pub session_policy: Option<SessionPolicy>,
    pub apps: Vec<AppRecord>,
    pub users: Vec<UserRecord>,
    pub consents: Vec<ConsentRecord>,
    pub email_templates: Vec<TemplateRecord>,
    pub signing_keys: Vec<KeyRecord>,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Encoding(what)
}

fn org_record(m: orgs::Model) -> OrgRecord {
    OrgRecord {
        id: m.id,
        slug: m.slug,
        name: m.name,
        status: m.status,
        created_at: m.created_at,
        logo_url: m.logo_url,
        accent_color: m.accent_color,
        signup_mode: m.signup_mode,
        require_verified_email: m.require_verified_email,
    }
}

impl Store {
    /// Everything an export of `org` carries, read in one snapshot (a repeatable-read,
    /// read-only transaction on PostgreSQL; SQLite's read transaction is a snapshot already).
    /// `None` when there is no such org.
    pub async fn export_rows(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Option<ExportRows>, StoreError> {
        let txn = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            _ => self.db.begin().await?,
        };
        let Some(row) = orgs::Entity::find_by_id(org.0).one(&txn).await? else {
            return Ok(None);
        };
        let session_policy = policies::Entity::find_by_id(org.0)
            .one(&txn)
            .await?
            .map(|m| SessionPolicy {
                idle_timeout_secs: m.idle_timeout_secs,
                absolute_lifetime_secs: m.absolute_lifetime_secs,
                remember_me_allowed: m.remember_me_allowed,
                remember_me_lifetime_secs: m.remember_me_lifetime_secs,
                mfa: MfaPolicy::from_db(&m.mfa_policy),
            });
        let rows = ExportRows {
            org: org_record(row),
            session_policy,
            apps: export_apps(&txn, org).await?,
            users: export_users(&txn, org).await?,
            consents: export_consents(&txn, org).await?,
            email_templates: export_templates(&txn, org).await?,
            signing_keys: export_keys(&txn, org, now).await?,
        };
        txn.commit().await?;
        Ok(Some(rows))
    }
}

/// The org's apps but its console app (the target makes its own on first use: its redirect URI
/// is the target's public URL), with their secrets' hashes.
async fn export_apps(txn: &DatabaseTransaction, org: OrgId) -> Result<Vec<AppRecord>, StoreError> {
    let rows = apps::Entity::find()
        .filter(apps::Column::OrgId.eq(org.0))
        .filter(apps::Column::ClientId.ne(CONSOLE_CLIENT_ID))
        .order_by_asc(apps::Column::CreatedAt)
        .order_by_asc(apps::Column::Id)
        .all(txn)
        .await?;
    let secrets: HashMap<Uuid, Option<String>> = rows
        .iter()
        .map(|m| (m.id, m.client_secret_hash.clone()))
        .collect();
    let loaded = super::apps::load_apps(txn, org, rows).await?;
    Ok(loaded
        .into_iter()
        .map(|a| {
            let uris =
                |v: &[crate::apps::AppUri]| v.iter().map(|u| u.as_str().to_owned()).collect();
            AppRecord {
                id: a.id.0,
                client_secret_hash: secrets.get(&a.id.0).cloned().flatten(),
                client_id: a.client_id,
                name: a.name,
                app_type: a.app_type,
                redirect_uris: uris(&a.redirect_uris),
                post_logout_redirect_uris: uris(&a.post_logout_redirect_uris),
                backchannel_logout_uri: a.backchannel_logout_uri.map(|u| u.as_str().to_owned()),
                frontchannel_logout_uri: a.frontchannel_logout_uri.map(|u| u.as_str().to_owned()),
                session_profile: a.session_profile,
                admin: a.admin,
                settings: a.settings,
                saml: a.saml,
                created_at: a.created_at,
            }
        })
        .collect())
}

/// The org's users, each with their WebAuthn credentials and recovery codes.
async fn export_users(
    txn: &DatabaseTransaction,
    org: OrgId,
) -> Result<Vec<UserRecord>, StoreError> {
    let mut keys: HashMap<Uuid, Vec<CredentialRecord>> = HashMap::new();
    for m in creds::Entity::find()
        .filter(creds::Column::OrgId.eq(org.0))
        .order_by_asc(creds::Column::CreatedAt)
        .order_by_asc(creds::Column::Id)
        .all(txn)
        .await?
    {
        let credential = serde_json::from_str(&m.credential)
            .map_err(|e| corrupt(format!("credential {}: {e}", m.id)))?;
        keys.entry(m.user_id).or_default().push(CredentialRecord {
            id: m.id,
            credential_id: m.credential_id,
            kind: m.kind,
            name: m.name,
            credential,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
        });
    }
    let mut codes: HashMap<Uuid, Vec<RecoveryCodeRecord>> = HashMap::new();
    for m in recovery_codes::Entity::find()
        .filter(recovery_codes::Column::OrgId.eq(org.0))
        .order_by_asc(recovery_codes::Column::Id)
        .all(txn)
        .await?
    {
        codes
            .entry(m.user_id)
            .or_default()
            .push(RecoveryCodeRecord {
                id: m.id,
                code_hash: m.code_hash,
                created_at: m.created_at,
                used_at: m.used_at,
            });
    }
    Ok(users::Entity::find()
        .filter(users::Column::OrgId.eq(org.0))
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .all(txn)
        .await?
        .into_iter()
        .map(|m| UserRecord {
            webauthn_credentials: keys.remove(&m.id).unwrap_or_default(),
            recovery_codes: codes.remove(&m.id).unwrap_or_default(),
            id: m.id,
            email: m.email,
            name: m.name,
            password_hash: m.password_hash,
            role: m.role,
            active: m.status == "active",
            created_at: m.created_at,
            email_verified_at: m.email_verified_at,
        })
        .collect())
}

async fn export_consents(
    txn: &DatabaseTransaction,
    org: OrgId,
) -> Result<Vec<ConsentRecord>, StoreError> {
    Ok(consents::Entity::find()
        .filter(consents::Column::OrgId.eq(org.0))
        .order_by_asc(consents::Column::Id)
        .all(txn)
        .await?
        .into_iter()
        .map(|m| ConsentRecord {
            id: m.id,
            user_id: m.user_id,
            app_id: m.app_id,
            scope: m.scope,
            granted_at: m.granted_at,
        })
        .collect())
}

async fn export_templates(
    txn: &DatabaseTransaction,
    org: OrgId,
) -> Result<Vec<TemplateRecord>, StoreError> {
    email_templates::Entity::find()
        .filter(email_templates::Column::OrgId.eq(org.0))
        .order_by_asc(email_templates::Column::Kind)
        .all(txn)
        .await?
        .into_iter()
        .map(|m| {
            let kind = crate::email::TemplateKind::parse(&m.kind)
                .ok_or_else(|| corrupt(format!("email template kind {:?}", m.kind)))?;
            Ok(TemplateRecord {
                kind,
                subject: m.subject,
                text: m.text_body,
                html: m.html_body,
                updated_at: m.updated_at,
            })
        })
        .collect()
}

/// The keys published at `now` (retired ones are of no use to anyone), still sealed here.
async fn export_keys(
    txn: &DatabaseTransaction,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<KeyRecord>, StoreError> {
    signing_keys::Entity::find()
        .filter(signing_keys::Column::OrgId.eq(org.0))
        .filter(
            Condition::any()
                .add(signing_keys::Column::ExpiresAt.is_null())
                .add(signing_keys::Column::ExpiresAt.gt(now)),
        )
        .order_by_asc(signing_keys::Column::ActivatesAt)
        .all(txn)
        .await?
        .into_iter()
        .map(|m| {
            Ok(KeyRecord {
                id: m.id,
                alg: m.alg.parse().map_err(corrupt)?,
                public_jwk: serde_json::from_str(&m.public_jwk)
                    .map_err(|e| corrupt(e.to_string()))?,
                kid: m.kid,
                private_key: m.private_key,
                created_at: m.created_at,
                activates_at: m.activates_at,
                expires_at: m.expires_at,
                saml_private_key: m.saml_private_key,
                saml_certificate: m.saml_certificate,
            })
        })
        .collect()
}

impl Store {
    /// Writes a checked import in one transaction, ids as given, with one `org.imported` audit
    /// event: all of it or, on any refusal (a slug or id already here: `Conflict`), nothing.
    pub async fn import_org(
        &self,
        plan: &ImportPlan,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let org = plan.org.id;
        orgs::ActiveModel {
            id: Set(org.0),
            slug: Set(plan.org.slug.as_str().to_owned()),
            name: Set(plan.org.name.clone()),
            status: Set(plan.org.status.as_str().to_owned()),
            created_at: Set(plan.org.created_at),
            updated_at: Set(now),
            logo_url: Set(plan.org.branding.logo_url.clone()),
            accent_color: Set(plan.org.branding.accent_color.clone()),
            signup_mode: Set(plan.org.signup.mode.as_str().to_owned()),
            require_verified_email: Set(plan.org.signup.require_verified_email),
        }
        .insert(&txn)
        .await?;
        if let Some(p) = plan.session_policy {
            policies::ActiveModel {
                org_id: Set(org.0),
                idle_timeout_secs: Set(p.idle_timeout_secs),
                absolute_lifetime_secs: Set(p.absolute_lifetime_secs),
                remember_me_allowed: Set(p.remember_me_allowed),
                remember_me_lifetime_secs: Set(p.remember_me_lifetime_secs),
                updated_at: Set(now),
                mfa_policy: Set(p.mfa.as_str().to_owned()),
            }
            .insert(&txn)
            .await?;
        }
        import_apps(&txn, plan, now).await?;
        import_users(&txn, org, &plan.users, now).await?;
        import_rest(&txn, plan).await?;
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "org.imported",
            target: Some(org.to_string()),
            details: serde_json::json!({
                "slug": plan.org.slug.as_str(),
                "apps": plan.apps.len(),
                "users": plan.users.len(),
                "signing_keys": plan.signing_keys.len(),
            }),
        };
        insert_audit(&txn, &event, now).await?;
        txn.commit().await?;
        Ok(())
    }
}

async fn import_apps(
    txn: &DatabaseTransaction,
    plan: &ImportPlan,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let org = plan.org.id;
    for (id, created_at, new) in &plan.apps {
        apps::ActiveModel {
            id: Set(*id),
            org_id: Set(org.0),
            client_id: Set(new.client_id.clone()),
            name: Set(new.name.clone()),
            app_type: Set(new.app_type.as_str().to_owned()),
            client_secret_hash: Set(new.client_secret_hash.clone()),
            backchannel_logout_uri: Set(super::apps::uri_column(
                new.backchannel_logout_uri.as_ref(),
            )),
            frontchannel_logout_uri: Set(super::apps::uri_column(
                new.frontchannel_logout_uri.as_ref(),
            )),
            session_profile: Set(new.session_profile.as_str().to_owned()),
            role: Set(new.admin.then(|| "admin".to_owned())),
            settings: Set(super::apps::settings_json(&new.settings)?),
            created_at: Set(*created_at),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        super::apps::insert_app_uris(txn, org, *id, new).await?;
        if let Some(saml) = &new.saml {
            super::apps::insert_saml(txn, org, *id, saml).await?;
        }
    }
    Ok(())
}

async fn import_users(
    txn: &DatabaseTransaction,
    org: OrgId,
    list: &[UserRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for u in list {
        users::ActiveModel {
            id: Set(u.id),
            org_id: Set(org.0),
            email: Set(u.email.clone()),
            name: Set(u.name.clone()),
            password_hash: Set(u.password_hash.clone()),
            role: Set(u.role.clone()),
            status: Set(if u.active { "active" } else { "disabled" }.to_owned()),
            created_at: Set(u.created_at),
            updated_at: Set(now),
            email_verified_at: Set(u.email_verified_at),
        }
        .insert(txn)
        .await?;
        for c in &u.webauthn_credentials {
            creds::ActiveModel {
                id: Set(c.id),
                org_id: Set(org.0),
                user_id: Set(u.id),
                credential_id: Set(c.credential_id.clone()),
                kind: Set(c.kind.clone()),
                name: Set(c.name.clone()),
                credential: Set(c.credential.to_string()),
                created_at: Set(c.created_at),
                last_used_at: Set(c.last_used_at),
                // The session it was enrolled in stays behind: no session moves.
                enrolled_in_session: Set(None),
            }
            .insert(txn)
            .await?;
        }
        for r in &u.recovery_codes {
            recovery_codes::ActiveModel {
                id: Set(r.id),
                org_id: Set(org.0),
                user_id: Set(u.id),
                code_hash: Set(r.code_hash.clone()),
                created_at: Set(r.created_at),
                used_at: Set(r.used_at),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

/// Consents, email templates and signing keys.
async fn import_rest(txn: &DatabaseTransaction, plan: &ImportPlan) -> Result<(), StoreError> {
    let org = plan.org.id;
    for c in &plan.consents {
        consents::ActiveModel {
            id: Set(c.id),
            org_id: Set(org.0),
            user_id: Set(c.user_id),
            app_id: Set(c.app_id),
            scope: Set(c.scope.clone()),
            granted_at: Set(c.granted_at),
        }
        .insert(txn)
        .await?;
    }
    for t in &plan.email_templates {
        email_templates::ActiveModel {
            org_id: Set(org.0),
            kind: Set(t.kind.as_str().to_owned()),
            subject: Set(t.subject.clone()),
            text_body: Set(t.text.clone()),
            html_body: Set(t.html.clone()),
            updated_at: Set(t.updated_at),
        }
        .insert(txn)
        .await?;
    }
    for k in &plan.signing_keys {
        let row = signing_keys::ActiveModel {
            id: Set(k.id),
            org_id: Set(org.0),
            kid: Set(k.kid.clone()),
            alg: Set(k.alg.as_str().to_owned()),
            private_key: Set(k.private_key.clone()),
            public_jwk: Set(k.public_jwk.to_string()),
            created_at: Set(k.created_at),
            activates_at: Set(k.activates_at),
            expires_at: Set(k.expires_at),
            saml_private_key: Set(k.saml_private_key.clone()),
            saml_certificate: Set(k.saml_certificate.clone()),
        };
        signing_keys::Entity::insert(row)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Tables of the schema with an `org_id` column (SQLite: the test's migrated database).
#[cfg(test)]
async fn org_owned_tables<C: sea_orm::ConnectionTrait>(conn: &C) -> Vec<String> {
    use sea_orm::Statement;
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT m.name AS name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name = 'org_id' ORDER BY m.name",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every org-owned table of the migrated schema has a decision in `TABLES` (exported or
    /// not, and why, above): a new table fails here until someone decides.
    #[tokio::test]
    async fn every_org_owned_table_is_decided() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::DatabaseConfig {
            url: crate::config::Secret::new(format!(
                "sqlite://{}/export.db?mode=rwc",
                dir.path().display()
            )),
            max_connections: 1,
            connect_timeout_secs: 5,
        };
        let store = Store::connect(&config).await.unwrap();
        store.migrate().await.unwrap();
        let tables = org_owned_tables(&store.db).await;
        assert!(tables.contains(&"users".to_owned()), "{tables:?}");
        let undecided: Vec<&String> = tables
            .iter()
            .filter(|t| !TABLES.iter().any(|(name, _)| name == t))
            .collect();
        assert!(
            undecided.is_empty(),
            "org-owned tables without an export decision in store/export.rs TABLES: {undecided:?}"
        );
        let gone: Vec<&str> = TABLES
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !tables.iter().any(|t| t == n))
            .collect();
        assert!(
            gone.is_empty(),
            "TABLES names tables not in the schema: {gone:?}"
        );
    }
}
