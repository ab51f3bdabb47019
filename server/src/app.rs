//! Wires the pieces together: configuration → store (migrated) → cache → services → HTTP
//! (`crate::server`), and the background jobs of a serving node.

use crate::accounts::{AccountService, PasswordHasher};
use crate::apps::AppService;
use crate::audit::AuditSinkService;
use crate::authn::waiting::WaitingRoom;
use crate::authn::webauthn::WebauthnService;
use crate::authn::{LoginService, Throttle};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::email::EmailService;
use crate::keys::{KeyEncryptionKey, KeyService};
use crate::oidc::OidcService;
use crate::outbound::{OutboundClient, OutboundPolicy};
use crate::sessions::SessionService;
use crate::slo::SloService;
pub use crate::state::AppState;
use crate::store::Store;
use crate::store::cache::{Cache, RedisCache};
use crate::tenancy::OrgService;
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Builds the configured cache. Redis is not contacted here: a node starts while Redis is down
/// and uses it once it answers.
pub fn build_cache(config: &Config, clock: SharedClock) -> anyhow::Result<Cache> {
    Ok(match config.cache_url() {
        Some(url) => {
            let timeout = Duration::from_millis(config.cache.op_timeout_ms);
            let redis = RedisCache::new(url, &config.cache.key_prefix, timeout)
                .map_err(|e| anyhow::anyhow!("cache.url: {e}"))?;
            Cache::new(redis)
        }
        None => Cache::in_process(clock),
    })
}

/// Connects and migrates (serialised across nodes).
async fn migrated_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database)
        .await
        .context("cannot connect to the database")?;
    let applied = store.migrate().await.context("database migration failed")?;
    tracing::info!(
        backend = store.backend_name(),
        applied,
        known = Store::known_migrations(),
        "database migrations up to date"
    );
    Ok(store)
}

/// The sign-in waiting room's limits (`passwords.max_waiting*`; 0 = four per hashing slot).
fn waiting_room(config: &Config, hasher: &PasswordHasher) -> WaitingRoom {
    let p = &config.passwords;
    let total = match p.max_waiting {
        0 => hasher.concurrency().saturating_mul(4),
        n => n,
    };
    WaitingRoom::new(p.max_waiting_per_account, p.max_waiting_per_ip, total)
}

/// The node's metrics: on when `metrics.bind` is set.
fn node_metrics(config: &Config) -> anyhow::Result<crate::metrics::Metrics> {
    Ok(match config.metrics.bind_addr() {
        Some(_) => crate::metrics::Metrics::new(config.metrics.org_label_limit)?,
        None => crate::metrics::Metrics::default(),
    })
}

/// The services of the protocols: signing keys, apps, OIDC and Single Logout.
struct Protocols {
    keys: KeyService,
    apps: AppService,
    oidc: OidcService,
    slo: SloService,
    audit_sinks: AuditSinkService,
}

impl Protocols {
    fn new(
        config: &Config,
        store: &Store,
        cache: &Cache,
        clock: &SharedClock,
        sessions: &SessionService,
    ) -> anyhow::Result<Self> {
        let (store, cache, clock, sessions) = (store.clone(), cache.clone(), clock, sessions);
        let kek = KeyEncryptionKey::from_config(&config.keys)
            .context("keys.encryption_key / keys.encryption_key_file")?;
        let keys = KeyService::new(store.clone(), cache.clone(), clock.clone(), kek);
        let outbound_policy = OutboundPolicy::new(&config.outbound.allow_private);
        let apps = AppService::new(
            store.clone(),
            cache.clone(),
            clock.clone(),
            config.security.danger_allow_plain_http,
            outbound_policy.clone(),
        );
        let outbound = OutboundClient::new(
            outbound_policy.clone(),
            Duration::from_millis(config.logout.delivery_timeout_ms),
        )
        .context("cannot build the outbound HTTP client")?;
        let oidc = OidcService::new(
            store.clone(),
            apps.clone(),
            clock.clone(),
            keys.clone(),
            sessions.clone(),
            cache.clone(),
            config.public_url().to_owned(),
        )
        .with_outbound(outbound.clone());
        let audit_sinks = AuditSinkService::new(
            store.clone(),
            keys.clone(),
            clock.clone(),
            OutboundClient::new(outbound_policy.clone(), crate::audit::SINK_TIMEOUT)
                .context("cannot build the outbound HTTP client")?,
            config.security.danger_allow_plain_http,
        );
        let slo = SloService::new(
            sessions.clone(),
            store.clone(),
            keys.clone(),
            clock.clone(),
            config.logout.clone(),
            config.public_url().to_owned(),
            outbound,
        );
        Ok(Self {
            keys,
            apps,
            oidc,
            slo,
            audit_sinks,
        })
    }
}

/// Each client's pace of anonymous requests on this node (`security.anonymous_*`).
fn pacer(config: &Config, clock: &SharedClock) -> crate::limits::Pacer {
    crate::limits::Pacer::new(
        clock.clone(),
        config.security.anonymous_per_ip_per_second,
        config.security.anonymous_burst,
        Duration::from_millis(config.security.anonymous_max_wait_ms),
    )
}

impl AppState {
    /// Connects, migrates (serialised across nodes) and makes sure the platform org exists.
    pub async fn init(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let store = migrated_store(&config).await?;
        let cache = build_cache(&config, clock.clone())?;
        let metrics = node_metrics(&config)?;
        let hasher = PasswordHasher::new(config.passwords.max_concurrent_hashes)
            .with_metrics(metrics.clone());
        let sessions = SessionService::new(store.clone(), cache.clone(), clock.clone())
            .with_retention_days(config.sessions.retention_days);
        let throttle = Throttle::new(cache.clone(), clock.clone());
        let waiting = waiting_room(&config, &hasher);
        let webauthn = WebauthnService::new(
            config.public_url(),
            &config.deployment.name,
            store.clone(),
            clock.clone(),
            sessions.clone(),
        );
        let Protocols {
            keys,
            apps,
            oidc,
            slo,
            audit_sinks,
        } = Protocols::new(&config, &store, &cache, &clock, &sessions)?;
        let (oidc, slo, audit_sinks) = (
            oidc.with_metrics(metrics.clone()),
            slo.with_metrics(metrics.clone()),
            audit_sinks.with_metrics(metrics.clone()),
        );
        let email = EmailService::new(store.clone(), cache.clone(), clock.clone(), &config.email)?
            .with_metrics(metrics.clone());
        let state = Self {
            limits: crate::limits::RateLimiter::new(cache.clone(), clock.clone()),
            pacer: pacer(&config, &clock),
            email: email.clone(),
            saml: crate::saml::SamlService::new(keys.clone(), config.public_url().to_owned()),
            keys,
            oidc,
            slo,
            audit_sinks,
            login: LoginService::new(
                store.clone(),
                hasher.clone(),
                sessions.clone(),
                throttle,
                waiting,
                clock.clone(),
                webauthn.clone(),
            ),
            webauthn,
            orgs: OrgService::new(
                store.clone(),
                cache.clone(),
                clock.clone(),
                sessions.clone(),
            ),
            accounts: AccountService::new(
                store.clone(),
                hasher,
                clock.clone(),
                sessions.clone(),
                email,
                config.public_url().to_owned(),
            ),
            sessions,
            apps,
            metrics,
            config: Arc::new(config),
            store,
            cache,
            clock,
        };
        state
            .orgs
            .ensure_platform_org()
            .await
            .context("cannot create the platform org")?;
        Ok(state)
    }
}

/// A built, bound, not yet awaited server.
pub struct Application {
    port: u16,
    state: AppState,
    server: crate::http::Server,
    /// The metrics listener's server and port (`metrics.bind`), when on.
    metrics: Option<(crate::http::Server, u16)>,
}

impl Application {
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let bind = config.http.bind;
        let state = AppState::init(config, clock).await?;
        let listener = TcpListener::bind(bind)
            .with_context(|| format!("cannot listen on {bind} (http.bind)"))?;
        let port = listener.local_addr()?.port();
        let server = crate::routes::server(state.clone(), listener)?;
        let metrics = match state.config.metrics.bind_addr() {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (metrics.bind)"))?;
                let port = listener.local_addr()?.port();
                Some((
                    crate::routes::metrics_server(state.clone(), listener)?,
                    port,
                ))
            }
            None => None,
        };
        Ok(Self {
            port,
            state,
            server,
            metrics,
        })
    }

    /// The metrics listener's port, when `metrics.bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn handle(&self) -> crate::http::ServerHandle {
        self.server.handle()
    }

    /// Starts the background jobs of a serving node (the session sweepers, the logout, email
    /// and audit sink workers).
    pub fn spawn_jobs(&self) {
        let every = Duration::from_secs(self.state.config.sessions.sweep_interval_secs);
        tokio::spawn(self.state.sessions.clone().run_sweeper(every));
        tokio::spawn(self.state.oidc.clone().run_app_session_sweeper(every));
        tokio::spawn(self.state.slo.clone().run_worker());
        tokio::spawn(self.state.email.clone().run_worker());
        tokio::spawn(self.state.audit_sinks.clone().run_worker());
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`), then drains in-flight requests for
    /// up to `http.shutdown_timeout_secs`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(handle) = metrics {
            handle.stop(true).await;
        }
        served
    }
}
