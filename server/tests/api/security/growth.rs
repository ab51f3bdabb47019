//! Issue 14, "anonymous growth": a `verify-email` POST used to count an attempt per hash of any
//! token sent (an hour-long cache entry each) before checking that the link exists, so random
//! tokens grew the cache without bound. Attempts are now counted on the link's row, so a token
//! that names no link stores nothing. Measured on a private redis-server, whose key count is
//! exactly what the node stored.

use crate::browser::Browser;
use crate::cache::RedisServer;
use crate::helpers::{TestApp, eventually, free_port};
use crate::signin::acme;
use portcullis::store::cache::CacheHealth;
use std::time::Duration;

fn dbsize(port: u16) -> i64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "dbsize"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

both_backends!(
    security_verify_email_with_tokens_of_no_link_stores_nothing,
    |backend| {
        let port = free_port();
        let _redis = RedisServer::start(port);
        let db = TestApp::spawn(&backend).await;
        let node = TestApp::spawn_on(
            &db.db_url,
            Some((format!("redis://127.0.0.1:{port}"), "pc:".to_owned())),
            |f| f,
        )
        .await;
        assert!(
            eventually(Duration::from_secs(10), || async {
                node.state.cache.health().await == CacheHealth::Ok
            })
            .await
        );
        acme(&node).await;
        let mut b = Browser::new(&node.address, "growth-test");
        let csrf = b.get("/o/acme/login").await.csrf();
        // Warm up: whatever one request stores (its client's rate-limit counter, the org's
        // copy) is stored by the first one.
        let post = |i: usize| {
            let client = reqwest::Client::new();
            let url = format!("{}/o/acme/verify-email", node.address);
            let csrf = csrf.clone();
            async move {
                client
                    .post(url)
                    .header("cookie", format!("pc_csrf={csrf}"))
                    .header("user-agent", "growth-test")
                    .form(&[
                        ("token", format!("{i:064x}")),
                        ("password", "a guess".to_owned()),
                        ("csrf", csrf),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let first = post(0).await;
        assert!((400..500).contains(&first), "{first}");
        let before = dbsize(port);
        for i in 1..=40 {
            let status = post(i).await;
            assert!(
                (400..500).contains(&status),
                "a token of no link is a client error, got {status}"
            );
        }
        let after = dbsize(port);
        assert_eq!(
            after,
            before,
            "40 tokens of no link stored {} cache entries",
            after - before
        );
    }
);
