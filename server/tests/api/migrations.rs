//! Two server processes starting at the same moment on one fresh PostgreSQL database: both
//! become ready and the schema is migrated exactly once.

use crate::helpers::{Backend, TestDb, free_port, start_node};

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
        let mut nodes = [start_node(&db.url, p1), start_node(&db.url, p2)];

        for (node, port) in nodes.iter().zip([p1, p2]) {
            assert!(
                node.ready(port).await,
                "node on port {port} never became ready"
            );
        }
        let mut logs = Vec::new();
        for node in &mut nodes {
            logs.push(node.stop().await);
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
