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

both_backends!(
    rolling_back_the_successor_index_keeps_spent_refresh_tokens_spent,
    |backend| {
        // Since migration 28 a rotated token is spent by its successor (`parent_id`), not by
        // `used_at`; rolling it back must mark those tokens, or they would all work again.
        use crate::browser::Browser;
        use crate::helpers::{Rp, TestApp, Tokens, org_with_alice};
        use portcullis_migrations::MigratorTrait;
        use sea_orm::ConnectionTrait;

        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = Rp::web(&app, &org, "shop").await;
        let mut b = Browser::new(
            &app.address,
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        );
        let t1 = rp.sign_in(&mut b, &[]).await;
        let t2 = Tokens::of(&rp.refresh(&t1.refresh).await);

        let db = sea_orm::Database::connect(&app.db_url).await.unwrap();
        // Down to before migration 28 (the 28th), whatever came after it.
        let from_28 =
            u32::try_from(portcullis_migrations::Migrator::migrations().len() - 27).unwrap();
        portcullis_migrations::Migrator::down(&db, Some(from_28))
            .await
            .unwrap();
        let spent = |token: String| {
            let db = &db;
            async move {
                let hash = portcullis::secrets::sha256_hex(&token);
                let sql = format!(
                    "SELECT CASE WHEN used_at IS NULL THEN 0 ELSE 1 END AS spent \
                     FROM refresh_tokens WHERE token_hash = '{hash}'"
                );
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        db.get_database_backend(),
                        sql,
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i32>("", "spent").unwrap() == 1
            }
        };
        assert!(spent(t1.refresh.clone()).await, "the rotated token");
        assert!(!spent(t2.refresh.clone()).await, "its successor");
        portcullis_migrations::Migrator::up(&db, None)
            .await
            .unwrap();
    }
);
