//! The harness: `TestApp` runs the real application in the test's process on a fresh database
//! (and Redis key prefix), and restarts it on the same one.

use super::{Backend, Cli, TestDb, free_port, test_figment};
use figment::Figment;
use portcullis::app::{AppState, Application};
use portcullis::clock::FixedClock;
use portcullis::config::Config;
use portcullis::http::ServerHandle;
use std::sync::Arc;
use std::time::Duration;

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub clock: Arc<FixedClock>,
    pub client: reqwest::Client,
    pub db_url: String,
    pub redis: Option<(String, String)>,
    handle: ServerHandle,
    _db: Option<TestDb>,
}

impl TestApp {
    /// A node on a fresh database (and a fresh Redis key prefix).
    pub async fn spawn(backend: &Backend) -> Self {
        Self::spawn_with(backend, |f| f).await
    }

    /// As `spawn`, with extra configuration applied last (for example an outbound policy).
    pub async fn spawn_with(backend: &Backend, tweak: impl FnOnce(Figment) -> Figment) -> Self {
        let db = TestDb::create(backend).await;
        let redis = backend.fresh_redis();
        let mut app = Self::spawn_on(&db.url, redis, tweak).await;
        app._db = Some(db);
        app
    }

    /// A node on an existing database and cache (a second node of the same deployment), with
    /// extra configuration applied last.
    pub async fn spawn_on(
        db_url: &str,
        redis: Option<(String, String)>,
        tweak: impl FnOnce(Figment) -> Figment,
    ) -> Self {
        let figment = tweak(test_figment(
            db_url,
            redis.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        ));
        let mut config = Config::from_figment(figment).unwrap();
        let clock = Arc::new(FixedClock::at_epoch());
        let mut tries = 0;
        let app = loop {
            match Application::build(config.clone(), clock.clone()).await {
                Ok(app) => break app,
                // A port picked by `free_port()` was taken before the node bound it (another
                // test's outgoing connection can get it): take another one, and move the public
                // URL along when it named that port.
                Err(e)
                    if tries < 5
                        && config.http.bind.port() != 0
                        && format!("{e:#}").contains("in use") =>
                {
                    tries += 1;
                    let old = config.http.bind.port();
                    let new = free_port();
                    config.http.bind.set_port(new);
                    let suffix = format!(":{old}");
                    if let Some(base) = config.http.public_url.strip_suffix(&suffix) {
                        config.http.public_url = format!("{base}:{new}");
                    }
                }
                Err(e) => panic!("{e:#}"),
            }
        };
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            address,
            state,
            clock,
            client,
            db_url: db_url.to_owned(),
            redis,
            handle,
            _db: None,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Runs the real `portcullis` binary against this node's database and cache.
    pub fn cli(&self) -> Cli {
        Cli::new(
            &self.db_url,
            self.redis.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

impl TestApp {
    /// A node on a fresh database listening on a free port whose public URL is
    /// `http://localhost:{port}`, so each org's issuer `{public_url}/o/{org}` is reachable.
    pub async fn spawn_oidc(backend: &Backend) -> Self {
        Self::spawn_oidc_with(backend, |f| f).await
    }

    /// `http://localhost:{port}` for nodes from `spawn_oidc`.
    pub fn public_url(&self) -> String {
        self.state.config.public_url().to_owned()
    }

    pub fn issuer(&self, org: &str) -> String {
        format!("{}/o/{org}", self.public_url())
    }
}

impl TestApp {
    /// As `spawn_oidc`, with extra configuration applied last (e.g. `logout.delivery_timeout_ms`).
    pub async fn spawn_oidc_with(
        backend: &Backend,
        tweak: impl FnOnce(Figment) -> Figment,
    ) -> Self {
        let db = TestDb::create(backend).await;
        let redis = backend.fresh_redis();
        let port = free_port();
        let mut app = Self::spawn_on(&db.url, redis, move |f| {
            tweak(
                f.merge(("http.bind", format!("127.0.0.1:{port}")))
                    .merge(("http.public_url", format!("http://localhost:{port}"))),
            )
        })
        .await;
        app._db = Some(db);
        app
    }

    /// A server restart: stops this node and starts a new one on the same database, cache,
    /// listening address and public URL, with `tweak` applied last. The new node's fixed clock
    /// starts at the epoch again. The database outlives the old node (it belongs to the new
    /// one now).
    pub async fn restart(mut self, tweak: impl FnOnce(Figment) -> Figment) -> Self {
        let db = self._db.take();
        let port = url::Url::parse(&self.address)
            .unwrap()
            .port()
            .expect("a port");
        let public_url = self.state.config.public_url().to_owned();
        let (db_url, redis) = (self.db_url.clone(), self.redis.clone());
        self.handle.stop(true).await;
        drop(self);
        let mut app = Self::spawn_on(&db_url, redis, move |f| {
            tweak(
                f.merge(("http.bind", format!("127.0.0.1:{port}")))
                    .merge(("http.public_url", public_url)),
            )
        })
        .await;
        app._db = db;
        app
    }
}
