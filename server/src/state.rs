//! The application state every handler and CLI command gets: configuration, store, cache and
//! the services. Built by `app::AppState::init`; cheap to clone.

use crate::accounts::AccountService;
use crate::apps::AppService;
use crate::authn::LoginService;
use crate::authn::webauthn::WebauthnService;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::email::EmailService;
use crate::keys::KeyService;
use crate::oidc::OidcService;
use crate::saml::SamlService;
use crate::sessions::SessionService;
use crate::slo::SloService;
use crate::store::Store;
use crate::store::cache::{Cache, CacheHealth};
use crate::tenancy::OrgService;
use portcullis_api_types::Readiness;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request or a CLI command needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub cache: Cache,
    pub clock: SharedClock,
    pub orgs: OrgService,
    pub accounts: AccountService,
    pub apps: AppService,
    pub sessions: SessionService,
    pub login: LoginService,
    pub webauthn: WebauthnService,
    pub keys: KeyService,
    pub oidc: OidcService,
    pub slo: SloService,
    /// Each org's audit sink and the worker streaming audit events to it.
    pub audit_sinks: crate::audit::AuditSinkService,
    /// The org as a SAML identity provider (metadata, signing key).
    pub saml: SamlService,
    pub email: EmailService,
    /// Rate limits of anonymous requests (WebAuthn ceremony starts per client IP).
    pub limits: crate::limits::RateLimiter,
    /// Each client's pace of anonymous requests on this node (`http::org::pace_anonymous`).
    pub pacer: crate::limits::Pacer,
    /// Prometheus metrics (`crate::metrics`; off unless `metrics.bind` is set).
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    /// What `/readyz` reports.
    pub async fn readiness(&self) -> Readiness {
        let db_ok = matches!(
            tokio::time::timeout(Duration::from_secs(2), self.store.ping()).await,
            Ok(Ok(()))
        );
        let cache_ok = self.cache.health().await == CacheHealth::Ok;
        Readiness {
            status: match (db_ok, cache_ok) {
                (true, true) => "ready",
                (true, false) => "degraded",
                (false, _) => "unavailable",
            }
            .to_owned(),
            database: if db_ok { "ok" } else { "unreachable" }.to_owned(),
            cache: if cache_ok { "ok" } else { "degraded" }.to_owned(),
        }
    }
}
