//! Which migrations can run while nodes of the previous release still serve (a rolling
//! upgrade), and which need those nodes drained first. `portcullis migrate --check` reads
//! this; a unit test fails when a migration is missing from it.
//!
//! Rolling (expand-only): new tables, new columns that are nullable or have a default, new
//! indexes that old writes cannot violate; old code keeps reading and writing what it knew,
//! and a new feature is simply not offered by old nodes until they are replaced.
//! Drain (contract): a drop, rename or type change, a column that becomes NOT NULL without a
//! default, a data rewrite or constraint the old code does not expect, or a change of meaning
//! that makes a node of the previous release act wrongly on rows written by the new one.

/// How a migration may be applied under a running cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Safety {
    /// Expand-only: apply it, then replace the nodes one by one.
    Rolling,
    /// Stop (drain) every node of the previous release before applying it.
    Drain,
}

impl Safety {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rolling => "rolling",
            Self::Drain => "drain",
        }
    }
}

use Safety::{Drain, Rolling};

const NEW_TABLE: &str = "new table";

/// Every migration, in order: name, class and why.
pub const ROLLING: &[(&str, Safety, &str)] = &[
    ("m20261128_000001_create_orgs", Rolling, NEW_TABLE),
    ("m20261128_000002_create_users", Rolling, NEW_TABLE),
    ("m20261128_000003_create_apps", Rolling, NEW_TABLE),
    (
        "m20261128_000004_create_app_redirect_uris",
        Rolling,
        NEW_TABLE,
    ),
    ("m20261128_000005_create_audit_events", Rolling, NEW_TABLE),
    (
        "m20261128_000006_add_org_branding",
        Rolling,
        "new nullable columns",
    ),
    (
        "m20261128_000007_create_org_session_policies",
        Rolling,
        NEW_TABLE,
    ),
    ("m20261128_000008_create_sessions", Rolling, NEW_TABLE),
    (
        "m20261128_000009_create_webauthn_credentials",
        Rolling,
        NEW_TABLE,
    ),
    (
        "m20261128_000010_add_org_mfa_policy",
        Rolling,
        "new column with a default",
    ),
    ("m20261128_000011_create_recovery_codes", Rolling, NEW_TABLE),
    ("m20261129_000012_create_signing_keys", Rolling, NEW_TABLE),
    (
        "m20261129_000013_add_app_settings",
        Rolling,
        "new column with a default",
    ),
    ("m20261129_000014_create_app_sessions", Rolling, NEW_TABLE),
    ("m20261129_000015_create_refresh_tokens", Rolling, NEW_TABLE),
    ("m20261129_000016_create_consents", Rolling, NEW_TABLE),
    (
        "m20261129_000017_create_logout_deliveries",
        Rolling,
        NEW_TABLE,
    ),
    ("m20261129_000018_create_email_outbox", Rolling, NEW_TABLE),
    (
        "m20261129_000019_create_password_resets",
        Rolling,
        NEW_TABLE,
    ),
    (
        "m20261129_000020_email_links_and_signup",
        Drain,
        "renames password_resets to email_links: a previous node's password reset fails",
    ),
    (
        "m20261129_000021_create_email_templates",
        Rolling,
        NEW_TABLE,
    ),
    (
        "m20261129_000022_create_pending_signups",
        Rolling,
        NEW_TABLE,
    ),
    (
        "m20261202_000023_credential_enrolled_in_session",
        Rolling,
        "new nullable column",
    ),
    (
        "m20261203_000024_add_link_attempts",
        Rolling,
        "new columns with a default",
    ),
    (
        "m20261204_000025_one_open_signing_key",
        Drain,
        "rewrites expires_at of raced keys and adds a unique index on existing columns that \
         a previous node's concurrent first key creation fails on (500 instead of reading the \
         winner's key)",
    ),
    (
        "m20261205_000026_create_single_use_values",
        Rolling,
        NEW_TABLE,
    ),
    (
        "m20261205_000027_logout_delivery_claim_token",
        Rolling,
        "new nullable column",
    ),
    (
        "m20261206_000028_refresh_token_parent",
        Drain,
        "new nodes spend a rotated refresh token by its successor's parent_id and leave \
         used_at empty; a previous node reads only used_at and would accept the spent token \
         again (replay)",
    ),
    (
        "m20261206_000029_app_sessions_live_deadlines",
        Rolling,
        "new indexes",
    ),
    ("m20261207_000030_create_device_grants", Rolling, NEW_TABLE),
    (
        "m20261207_000031_dpop_binding",
        Rolling,
        "new nullable column",
    ),
    ("m20261208_000032_create_saml_apps", Rolling, NEW_TABLE),
    (
        "m20261208_000033_saml_signing_certificates",
        Rolling,
        "new nullable columns",
    ),
    (
        "m20261209_000035_create_audit_sinks",
        Rolling,
        "new table, new nullable column and indexes on it (previous nodes leave seq NULL, \
         which the sequencer fills)",
    ),
];

/// The class of the named migration, and why; `None` for a name this build does not know.
pub fn safety_of(name: &str) -> Option<(Safety, &'static str)> {
    ROLLING
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, safety, why)| (*safety, *why))
}
