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

/// The signing-key encryption key of every test node and CLI run (base64 of 32 bytes).
pub const TEST_KEY_ENCRYPTION_KEY: &str = "cG9ydGN1bGxpcy10ZXN0LWtleS1lbmNyeXB0aW9uLSE=";

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
        // Every test client is 127.0.0.1 on a clock that stands still: pacing would hold and
        // then refuse their anonymous requests. `security::limits` turns it on to test it.
        .merge(("security.anonymous_per_ip_per_second", 0))
        .merge(("console.dir", "/nonexistent-console-dir"))
        .merge(("keys.encryption_key", TEST_KEY_ENCRYPTION_KEY))
        // The apps' back-channel receivers in these tests listen on 127.0.0.1, which outbound
        // calls refuse by default; `security::ssrf` turns this off again to test the refusal.
        .merge(("outbound.allow_private", vec!["127.0.0.1/32"]));
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
        Self::spawn_with(backend, |f| f).await
    }

    /// As `spawn`, with extra configuration applied last (for example an outbound policy).
    pub async fn spawn_with(backend: &Backend, tweak: impl FnOnce(Figment) -> Figment) -> Self {
        let db = TestDb::create(backend).await;
        let redis = backend.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        });
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
            (
                "PORTCULLIS__KEYS__ENCRYPTION_KEY".to_owned(),
                TEST_KEY_ENCRYPTION_KEY.to_owned(),
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
    start_node_with(db_url, port, &[])
}

/// As `start_node`, with extra environment variables (configuration) for the process.
pub fn start_node_with(db_url: &str, port: u16, env: &[(&str, &str)]) -> Node {
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
        .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY)
        .envs(env.iter().copied())
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

// ---------------------------------------------------------------------------------------------
// OpenID Connect: a node whose public URL names the port it really listens on (issuers,
// discovery documents and the WebAuthn origin depend on it), a relying party driven with raw
// HTTP, and small JWT and HTML readers.

use crate::browser::{Browser, Page};
use portcullis::apps::CreateApp;
use portcullis::tenancy::Org;
use serde_json::Value;
use std::collections::HashMap;

impl TestApp {
    /// A node on a fresh database listening on a free port whose public URL is
    /// `http://localhost:{port}`, so each org's issuer `{public_url}/o/{org}` is reachable.
    pub async fn spawn_oidc(backend: &Backend) -> Self {
        let db = TestDb::create(backend).await;
        let redis = backend.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        });
        let port = free_port();
        let mut app = Self::spawn_on(&db.url, redis, move |f| {
            f.merge(("http.bind", format!("127.0.0.1:{port}")))
                .merge(("http.public_url", format!("http://localhost:{port}")))
        })
        .await;
        app._db = Some(db);
        app
    }

    /// `http://localhost:{port}` for nodes from `spawn_oidc`.
    pub fn public_url(&self) -> String {
        self.state.config.public_url().to_owned()
    }

    pub fn issuer(&self, org: &str) -> String {
        format!("{}/o/{org}", self.public_url())
    }
}

/// An org with the user of `crate::signin` (EMAIL / PASSWORD, named Alice).
pub async fn org_with_alice(app: &TestApp, slug: &str) -> Org {
    let org = app
        .state
        .orgs
        .create(slug, Some("Test Org"), "test")
        .await
        .unwrap();
    let req = portcullis::accounts::CreateUser {
        email: crate::signin::EMAIL,
        password: Some(crate::signin::PASSWORD),
        name: Some("Alice"),
        role: portcullis::accounts::Role::Member,
    };
    app.state
        .accounts
        .create_user(&org, req, "test")
        .await
        .unwrap();
    org
}

/// The path and query of a URL (or of a path) on the node, for `Browser::get`.
pub fn local_path(location: &str) -> String {
    if location.starts_with('/') {
        return location.to_owned();
    }
    let url = url::Url::parse(location).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The (decoded) query parameters of a URL or path.
pub fn query_params(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location)
        .or_else(|_| {
            url::Url::parse("http://relative.invalid")
                .unwrap()
                .join(location)
        })
        .unwrap();
    url.query_pairs().into_owned().collect()
}

/// Undoes HTML escaping (named and numeric character references).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The unescaped value of the first `attr="…"` in the page after `marker` (e.g. the hidden field
/// `name="return_to"` and its `value`).
pub fn html_attr_after(body: &str, marker: &str, attr: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"))
        + marker.len();
    let tail = &body[start..];
    let key = format!("{attr}=\"");
    let at = tail
        .find(&key)
        .unwrap_or_else(|| panic!("{attr} after {marker}"))
        + key.len();
    html_unescape(tail[at..].split('"').next().unwrap())
}

/// Submits the password form of a sign-in page already fetched, echoing its hidden fields.
pub async fn submit_login(b: &mut Browser, org: &str, login: &Page) -> Page {
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let csrf = login.csrf();
    let return_to = html_attr_after(&login.body, "name=\"return_to\"", "value");
    b.post(
        &format!("/o/{org}/login"),
        &[
            ("email", crate::signin::EMAIL),
            ("password", crate::signin::PASSWORD),
            ("csrf", &csrf),
            ("return_to", &return_to),
        ],
    )
    .await
}

/// Opens `authorize` (a path or URL) and follows the node's redirects, signing in with the
/// password when the sign-in form shows, until the node sends the browser to `redirect_uri`;
/// returns that full location.
pub async fn follow_to_app(
    b: &mut Browser,
    org: &str,
    redirect_uri: &str,
    authorize: &str,
) -> String {
    let mut page = b.get(&local_path(authorize)).await;
    for _ in 0..10 {
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location().to_owned();
        if location.starts_with(redirect_uri) {
            return location;
        }
        let path = local_path(&location);
        page = b.get(&path).await;
        if page.status == 200
            && path.starts_with(&format!("/o/{org}/login"))
            && page.body.contains("name=\"password\"")
        {
            page = submit_login(b, org, &page).await;
        }
    }
    panic!("no redirect to {redirect_uri}");
}

/// A JSON answer of an OIDC endpoint.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub async fn read(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            json,
        }
    }

    /// The string field `key` (panics when missing).
    pub fn str(&self, key: &str) -> String {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {self:?}"))
            .to_owned()
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// An OAuth error answer with this status and `error` code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!((self.status, self.error()), (status, error), "{self:?}");
    }
}

/// The tokens of a successful code exchange or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub id: Option<String>,
}

impl Tokens {
    #[track_caller]
    pub fn of(answer: &Answer) -> Self {
        assert_eq!(answer.status, 200, "{answer:?}");
        Self {
            access: answer.str("access_token"),
            refresh: answer.str("refresh_token"),
            id: answer.json["id_token"].as_str().map(str::to_owned),
        }
    }

    pub fn id_claims(&self) -> Value {
        jwt_claims(self.id.as_deref().expect("an ID token"))
    }
}

/// A registered app, spoken to with raw HTTP as its relying party would.
#[derive(Debug, Clone)]
pub struct Rp {
    pub org: String,
    pub issuer: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    /// Requests to the node go to its listening address (the issuer's host is `localhost`).
    base: String,
    client: reqwest::Client,
}

impl Rp {
    /// Registers the app in `org`; its first redirect URI becomes the one requests use.
    pub async fn register(app: &TestApp, org: &Org, req: CreateApp) -> Self {
        let redirect_uri = req.redirect_uris.first().cloned().unwrap_or_default();
        let (registered, secret) = app.state.apps.create(org, req, "test").await.unwrap();
        let slug = org.slug.as_str().to_owned();
        Self {
            issuer: app.issuer(&slug),
            org: slug,
            client_id: registered.client_id,
            secret,
            redirect_uri,
            base: app.address.clone(),
            client: app.client.clone(),
        }
    }

    /// A confidential web app with one loopback redirect URI.
    pub async fn web(app: &TestApp, org: &Org, name: &str) -> Self {
        let mut req = CreateApp::new(name, portcullis::apps::AppType::Web);
        req.redirect_uris = vec![format!("http://127.0.0.1:9/{name}/callback")];
        Self::register(app, org, req).await
    }

    /// The same app seen with other credentials (another client id or secret).
    pub fn with_credentials(&self, client_id: &str, secret: Option<&str>) -> Self {
        let mut other = self.clone();
        other.client_id = client_id.to_owned();
        other.secret = secret.map(str::to_owned);
        other
    }

    /// The same credentials used at another org's endpoints.
    pub fn at_org(&self, app: &TestApp, org: &str) -> Self {
        let mut other = self.clone();
        other.org = org.to_owned();
        other.issuer = app.issuer(org);
        other
    }

    /// The same app speaking to another node of the deployment.
    pub fn at_node(&self, app: &TestApp) -> Self {
        let mut other = self.clone();
        other.base = app.address.clone();
        other
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/o/{}/{endpoint}", self.base, self.org)
    }

    /// `/o/{org}/authorize?…`: response_type=code, this app's client_id and redirect_uri, scope
    /// `openid email profile`, state `st-1` and nonce `n-1`; `params` replace or add parameters,
    /// and an empty value removes one.
    pub fn authorize_path(&self, params: &[(&str, &str)]) -> String {
        let mut all: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "openid email profile"),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in params {
            all.retain(|(key, _)| key != k);
            if !v.is_empty() {
                all.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all)
            .finish();
        format!("/o/{}/authorize?{query}", self.org)
    }

    /// Runs the authorization request in the browser (signing in with the password if needed)
    /// and returns the code, checking that `state` and `iss` come back.
    pub async fn code(&self, b: &mut Browser, params: &[(&str, &str)]) -> String {
        let path = self.authorize_path(params);
        let location = follow_to_app(b, &self.org, &self.redirect_uri, &path).await;
        let q = query_params(&location);
        assert!(!q.contains_key("error"), "{location}");
        let state = params
            .iter()
            .find(|(k, _)| *k == "state")
            .map_or("st-1", |(_, v)| *v);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some(state),
            "{location}"
        );
        assert_eq!(q.get("iss"), Some(&self.issuer), "{location}");
        q.get("code").cloned().expect("a code")
    }

    /// Authorization with PKCE (S256) and the code exchange; asserts success.
    pub async fn sign_in(&self, b: &mut Browser, params: &[(&str, &str)]) -> Tokens {
        let (challenge, verifier) = pkce();
        let mut all = vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        all.extend_from_slice(params);
        let code = self.code(b, &all).await;
        Tokens::of(&self.exchange(&code, Some(&verifier)).await)
    }

    /// A token request with this app's client authentication: HTTP Basic
    /// (client_secret_basic) for confidential apps, `client_id` in the body for public ones.
    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        let mut req = self.client.post(self.url("token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &self.secret {
            Some(secret) => req = req.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", &self.client_id)),
        }
        Answer::read(req.form(&form).send().await.unwrap()).await
    }

    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> Answer {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// RFC 7662 introspection with this app's credentials.
    pub async fn introspect(&self, token: &str) -> Answer {
        let mut req = self.client.post(self.url("introspect"));
        let mut form = vec![("token", token)];
        match &self.secret {
            Some(secret) => req = req.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", &self.client_id)),
        }
        Answer::read(req.form(&form).send().await.unwrap()).await
    }

    /// Whether introspection says the token is active (asserting a 200 answer).
    pub async fn active(&self, token: &str) -> bool {
        let a = self.introspect(token).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json["active"]
            .as_bool()
            .unwrap_or_else(|| panic!("{a:?}"))
    }

    /// RFC 7009 revocation with this app's credentials.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Answer {
        let mut req = self.client.post(self.url("revoke"));
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        match &self.secret {
            Some(secret) => req = req.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", &self.client_id)),
        }
        Answer::read(req.form(&form).send().await.unwrap()).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Answer {
        let res = self
            .client
            .get(self.url("userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        Answer::read(res).await
    }
}

/// A fresh PKCE pair: (S256 challenge, verifier).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().to_owned())
}

/// A JWT's header (part 0) or claims (part 1), decoded without any check.
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine;
    let raw = token
        .split('.')
        .nth(part)
        .unwrap_or_else(|| panic!("a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The `pc_session` token of a browser at an org, hashed and looked up: the IdP session.
pub async fn idp_session(app: &TestApp, org: &Org, b: &Browser) -> portcullis::sessions::Session {
    let token = b.session(org.slug.as_str()).expect("a session cookie");
    let hash = portcullis::secrets::sha256_hex(&token);
    app.state
        .store
        .session_by_token_hash(org.id, &hash)
        .await
        .unwrap()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Nodes with extra configuration, and restarts on the same database.

impl TestApp {
    /// As `spawn_oidc`, with extra configuration applied last (e.g. `logout.delivery_timeout_ms`).
    pub async fn spawn_oidc_with(
        backend: &Backend,
        tweak: impl FnOnce(Figment) -> Figment,
    ) -> Self {
        let db = TestDb::create(backend).await;
        let redis = backend.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        });
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
