//! Test harness: `TestApp::spawn` runs the real application on port 0 with a fresh database
//! (a new SQLite file, or a new PostgreSQL database) and, for Redis, a per-test key prefix.

use figment::Figment;
use figment::providers::{Format, Toml};
use portcullis::app::{AppState, Application};
use portcullis::clock::FixedClock;
use portcullis::config::{Config, DEFAULT_TOML};
use portcullis::http::ServerHandle;
use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// Where a test's state lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite file + in-process cache (the embedded default).
    Embedded,
    /// PostgreSQL server URL + Redis URL.
    External { postgres: String, redis: String },
}

impl Backend {
    /// The external backend when its URLs are set. Without them the test is skipped, unless
    /// PORTCULLIS_TEST_REQUIRE_EXTERNAL=1 (as in `cargo xtask test --all`), which fails it.
    pub fn external() -> Option<Self> {
        let pg = std::env::var("PORTCULLIS_TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let redis = std::env::var("PORTCULLIS_TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty());
        match (pg, redis) {
            (Some(postgres), Some(redis)) => Some(Self::External { postgres, redis }),
            _ if std::env::var("PORTCULLIS_TEST_REQUIRE_EXTERNAL").as_deref() == Ok("1") => {
                panic!("PORTCULLIS_TEST_DATABASE_URL and PORTCULLIS_TEST_REDIS_URL must be set")
            }
            _ => {
                eprintln!(
                    "skipped: PORTCULLIS_TEST_DATABASE_URL / PORTCULLIS_TEST_REDIS_URL not set"
                );
                None
            }
        }
    }

    pub fn redis_url(&self) -> Option<&str> {
        match self {
            Self::Embedded => None,
            Self::External { redis, .. } => Some(redis),
        }
    }
}

/// Defines `mod $name { sqlite_memory, postgres_redis }` running one async body per backend.
macro_rules! both_backends {
    ($name:ident, |$backend:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn case($backend: $crate::helpers::Backend) {
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                case($crate::helpers::Backend::Embedded).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                if let Some(backend) = $crate::helpers::Backend::external() {
                    case(backend).await
                }
            }
        }
    };
}

/// A fresh database: a SQLite file in a temp dir, or a new PostgreSQL database dropped at the
/// end of the test.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/portcullis.db?mode=rwc", dir.path().display());
                Self {
                    url,
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Backend::External { postgres, .. } => {
                let name = format!("pctest_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(postgres.as_str()).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let mut url = url::Url::parse(postgres).unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    postgres: Some((postgres.clone(), name)),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(server.as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// The configuration a test node runs with: defaults, then the test database and cache.
pub fn test_figment(db_url: &str, redis: Option<(&str, &str)>) -> Figment {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML))
        .merge(("http.bind", "127.0.0.1:0"))
        .merge(("http.workers", 1))
        .merge(("http.shutdown_timeout_secs", 1))
        .merge(("database.url", db_url))
        .merge(("database.max_connections", 5))
        .merge(("deployment.name", "Portcullis Test"))
        .merge(("passwords.max_concurrent_hashes", 2))
        .merge(("console.dir", "/nonexistent-console-dir"));
    if let Some((url, prefix)) = redis {
        figment = figment
            .merge(("cache.url", url))
            .merge(("cache.key_prefix", prefix));
    }
    figment
}

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
        let db = TestDb::create(backend).await;
        let redis = backend.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        });
        let mut app = Self::spawn_on(&db.url, redis, |f| f).await;
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
        let config = Config::from_figment(figment).unwrap();
        let clock = Arc::new(FixedClock::at_epoch());
        let app = Application::build(config, clock.clone()).await.unwrap();
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

/// The `portcullis` binary with a test's database and cache in its environment.
pub struct Cli {
    env: Vec<(String, String)>,
}

pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    pub fn new(db_url: &str, redis: Option<(&str, &str)>) -> Self {
        let mut env = vec![
            ("PORTCULLIS__DATABASE__URL".to_owned(), db_url.to_owned()),
            (
                "PORTCULLIS__CONSOLE__DIR".to_owned(),
                "/nonexistent-console-dir".to_owned(),
            ),
        ];
        if let Some((url, prefix)) = redis {
            env.push(("PORTCULLIS__CACHE__URL".to_owned(), url.to_owned()));
            env.push((
                "PORTCULLIS__CACHE__KEY_PREFIX".to_owned(),
                prefix.to_owned(),
            ));
        }
        Self { env }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub async fn run(&self, args: &[&str]) -> CliOutput {
        self.run_with_stdin(args, None).await
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("PORTCULLIS__") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.unwrap();
        }
        drop(pipe);
        let out = child.wait_with_output().await.unwrap();
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

/// Polls `check` every 50 ms until it holds or `limit` passes (for conditions another process
/// brings about; never used to measure speed).
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `portcullis serve` process with JSON logs on a piped stderr.
pub struct Node(pub tokio::process::Child);

pub fn start_node(db_url: &str, port: u16) -> Node {
    let mut cmd = tokio::process::Command::new(bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS__") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .args(["serve"])
        .env("PORTCULLIS__DATABASE__URL", db_url)
        .env("PORTCULLIS__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS__HTTP__WORKERS", "1")
        .env("PORTCULLIS__LOG__FORMAT", "json")
        .env("PORTCULLIS__CONSOLE__DIR", "/nonexistent-console-dir")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Node(child)
}

impl Node {
    /// Waits until `/readyz` answers 200 on `port`.
    pub async fn ready(&self, port: u16) -> bool {
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(60), || {
            let client = client.clone();
            async move {
                matches!(client.get(format!("http://127.0.0.1:{port}/readyz")).send().await,
                    Ok(r) if r.status() == 200)
            }
        })
        .await
    }

    /// Stops the process and returns everything it logged.
    pub async fn stop(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        self.0.start_kill().unwrap();
        self.0.wait().await.unwrap();
        let mut log = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .await
            .unwrap();
        log
    }
}
