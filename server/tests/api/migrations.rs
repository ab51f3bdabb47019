//! Two server processes starting at the same moment on one fresh PostgreSQL database: both
//! become ready and the schema is migrated exactly once.

use crate::helpers::{Backend, TestDb, bin, eventually};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

struct Node(tokio::process::Child);

fn start(db_url: &str, port: u16) -> Node {
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
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Node(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sum of the `applied` counts the node logged ("database migrations up to date").
fn applied(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "database migrations up to date")
        .filter_map(|v| v["fields"]["applied"].as_u64())
        .sum()
}

mod two_nodes_migrate_once {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(backend) = Backend::external() else {
            return;
        };
        let db = TestDb::create(&backend).await;
        let (p1, p2) = (free_port(), free_port());
        let mut nodes = [start(&db.url, p1), start(&db.url, p2)];

        let client = reqwest::Client::new();
        for port in [p1, p2] {
            let ready = eventually(Duration::from_secs(60), || {
                let client = client.clone();
                async move {
                    matches!(client.get(format!("http://127.0.0.1:{port}/readyz")).send().await,
                        Ok(r) if r.status() == 200)
                }
            })
            .await;
            assert!(ready, "node on port {port} never became ready");
        }

        let mut logs = Vec::new();
        for node in &mut nodes {
            node.0.start_kill().unwrap();
            node.0.wait().await.unwrap();
            let mut log = String::new();
            node.0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut log)
                .await
                .unwrap();
            logs.push(log);
        }
        let total: u64 = logs.iter().map(|l| applied(l)).sum();
        assert_eq!(
            total as usize,
            portcullis::store::Store::known_migrations(),
            "each migration must be applied exactly once across both nodes; logs: {logs:#?}"
        );
        // Exactly one platform org, whichever node created it.
        let config =
            portcullis::config::Config::from_figment(crate::helpers::test_figment(&db.url, None))
                .unwrap();
        let store = portcullis::store::Store::connect(&config.database)
            .await
            .unwrap();
        assert_eq!(store.count_orgs().await.unwrap(), 1);
        store.close().await.unwrap();
    }
}
