//! Other processes: the `portcullis` binary run as the CLI or as `serve` nodes, a free port for
//! them, and waiting for what they bring about.

use super::TEST_KEY_ENCRYPTION_KEY;
use std::path::PathBuf;
use std::time::Duration;

/// The `portcullis` binary with a test's database and cache in its environment.
pub struct Cli {
    env: Vec<(String, String)>,
}

pub struct CliOutput {
    pub success: bool,
    /// The exit code (None when a signal ended the process).
    pub code: Option<i32>,
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
        let mut cmd = portcullis_command();
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
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

/// The binary, without the configuration and log filter of the environment the tests run in.
fn portcullis_command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS__") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
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
    let child = portcullis_command()
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
