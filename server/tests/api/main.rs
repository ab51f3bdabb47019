//! Integration tests: the real app on port 0 (and the real binary for the CLI), a fresh
//! database per test. Each test runs twice: `…::sqlite_memory` (SQLite + in-process cache) and
//! `…::postgres_redis` (PostgreSQL + Redis, when PORTCULLIS_TEST_DATABASE_URL and
//! PORTCULLIS_TEST_REDIS_URL are set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod helpers;

mod account_logout;
mod admin_api;
mod admin_app_detail;
mod admin_app_sessions;
mod admin_filters;
mod admin_paging;
mod audit_sink;
mod browser;
mod cache;
mod cli;
mod client_auth;
mod consent;
mod demo;
mod device;
mod dpop;
mod email;
mod email_preview;
mod embedded_db;
mod health;
mod hot_caches;
mod isolation;
mod metrics;
mod migrations;
mod oidc;
mod oidc_edges;
mod oidc_policy;
mod org_export;
mod org_home;
mod orgs;
mod outage;
mod par;
mod rolling_upgrades;
mod saml;
mod saml_apps;
mod saml_idp;
mod saml_slo;
mod saml_slo_pysaml2;
mod saml_sso;
mod saml_sso_faults;
mod security;
mod signin;
mod signup;
mod slo;
mod test_logout;
mod traces;
mod webauthn;
