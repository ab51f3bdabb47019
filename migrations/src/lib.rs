//! Portcullis database schema: one sea-orm-migration file per change, each with `up` and `down`.
//!
//! Rules for new migrations: never edit a landed file; every org-owned table carries `org_id`
//! with a foreign key to `orgs` and an index whose first column is `org_id` (tenant isolation
//! and tenant-scoped queries stay cheap). Every migration is classified in [`ROLLING`]:
//! rolling-safe (expand-only) or needing a drain of the previous release's nodes.

pub use sea_orm_migration::prelude::*;

mod rolling;
pub use rolling::{ROLLING, Safety, safety_of};

mod m20261128_000001_create_orgs;
mod m20261128_000002_create_users;
mod m20261128_000003_create_apps;
mod m20261128_000004_create_app_redirect_uris;
mod m20261128_000005_create_audit_events;
mod m20261128_000006_add_org_branding;
mod m20261128_000007_create_org_session_policies;
mod m20261128_000008_create_sessions;
mod m20261128_000009_create_webauthn_credentials;
mod m20261128_000010_add_org_mfa_policy;
mod m20261128_000011_create_recovery_codes;
mod m20261129_000012_create_signing_keys;
mod m20261129_000013_add_app_settings;
mod m20261129_000014_create_app_sessions;
mod m20261129_000015_create_refresh_tokens;
mod m20261129_000016_create_consents;
mod m20261129_000017_create_logout_deliveries;
mod m20261129_000018_create_email_outbox;
mod m20261129_000019_create_password_resets;
mod m20261129_000020_email_links_and_signup;
mod m20261129_000021_create_email_templates;
mod m20261129_000022_create_pending_signups;
mod m20261202_000023_credential_enrolled_in_session;
mod m20261203_000024_add_link_attempts;
mod m20261204_000025_one_open_signing_key;
mod m20261205_000026_create_single_use_values;
mod m20261205_000027_logout_delivery_claim_token;
mod m20261206_000028_refresh_token_parent;
mod m20261206_000029_app_sessions_live_deadlines;
mod m20261207_000030_create_device_grants;
mod m20261207_000031_dpop_binding;
mod m20261208_000032_create_saml_apps;
mod m20261208_000033_saml_signing_certificates;
mod m20261209_000035_create_audit_sinks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_orgs::Migration),
            Box::new(m20261128_000002_create_users::Migration),
            Box::new(m20261128_000003_create_apps::Migration),
            Box::new(m20261128_000004_create_app_redirect_uris::Migration),
            Box::new(m20261128_000005_create_audit_events::Migration),
            Box::new(m20261128_000006_add_org_branding::Migration),
            Box::new(m20261128_000007_create_org_session_policies::Migration),
            Box::new(m20261128_000008_create_sessions::Migration),
            Box::new(m20261128_000009_create_webauthn_credentials::Migration),
            Box::new(m20261128_000010_add_org_mfa_policy::Migration),
            Box::new(m20261128_000011_create_recovery_codes::Migration),
            Box::new(m20261129_000012_create_signing_keys::Migration),
            Box::new(m20261129_000013_add_app_settings::Migration),
            Box::new(m20261129_000014_create_app_sessions::Migration),
            Box::new(m20261129_000015_create_refresh_tokens::Migration),
            Box::new(m20261129_000016_create_consents::Migration),
            Box::new(m20261129_000017_create_logout_deliveries::Migration),
            Box::new(m20261129_000018_create_email_outbox::Migration),
            Box::new(m20261129_000019_create_password_resets::Migration),
            Box::new(m20261129_000020_email_links_and_signup::Migration),
            Box::new(m20261129_000021_create_email_templates::Migration),
            Box::new(m20261129_000022_create_pending_signups::Migration),
            Box::new(m20261202_000023_credential_enrolled_in_session::Migration),
            Box::new(m20261203_000024_add_link_attempts::Migration),
            Box::new(m20261204_000025_one_open_signing_key::Migration),
            Box::new(m20261205_000026_create_single_use_values::Migration),
            Box::new(m20261205_000027_logout_delivery_claim_token::Migration),
            Box::new(m20261206_000028_refresh_token_parent::Migration),
            Box::new(m20261206_000029_app_sessions_live_deadlines::Migration),
            Box::new(m20261207_000030_create_device_grants::Migration),
            Box::new(m20261207_000031_dpop_binding::Migration),
            Box::new(m20261208_000032_create_saml_apps::Migration),
            Box::new(m20261208_000033_saml_signing_certificates::Migration),
            Box::new(m20261209_000035_create_audit_sinks::Migration),
        ]
    }
}

/// Identifiers of the `orgs` table, shared by every migration that references it.
#[derive(DeriveIden)]
pub(crate) enum Orgs {
    Table,
    Id,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration this build runs is classified, in order, and nothing else is: add a
    /// new migration to `rolling::ROLLING` with its class and why.
    #[test]
    fn every_migration_is_classified_for_rolling_upgrades() {
        let migrations: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        for name in &migrations {
            assert!(
                safety_of(name).is_some(),
                "migration {name} is not classified in migrations/src/rolling.rs (ROLLING)"
            );
        }
        let classified: Vec<&str> = ROLLING.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            classified, migrations,
            "ROLLING must list the migrations in order"
        );
    }
}
