//! Issue 15, item 5: clients cannot flood the log. Malformed requests (a head too large, bytes
//! that are not a header, garbage instead of a request line, a bad `Content-Length`) are the
//! client's mistake: the real binary answers them 4xx and logs no ERROR line for them, only a
//! sampled warning with a count. A real server error (the database losing a table under a
//! running node) still logs at ERROR.

use crate::helpers::{TestDb, free_port, start_node};
use sea_orm::{ConnectionTrait, Database};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `raw` on a fresh connection and returns the status line of the answer.
async fn send_raw(port: u16, raw: &[u8]) -> String {
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let _ = sock.write_all(raw).await;
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

both_backends!(
    security_client_mistakes_are_not_logged_as_errors,
    |backend| {
        const ROUNDS: usize = 10;
        let db = TestDb::create(&backend).await;
        let port = free_port();
        let mut node = start_node(&db.url, port);
        assert!(node.ready(port).await);
        let many_headers: Vec<u8> = (0..200)
            .flat_map(|i| format!("X-H{i}: v\r\n").into_bytes())
            .collect();
        let probes: Vec<(Vec<u8>, &str)> = vec![
            (
                [
                    b"GET / HTTP/1.1\r\nHost: x\r\n".as_slice(),
                    &many_headers,
                    b"\r\n",
                ]
                .concat(),
                "431",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x01: \xff\xfe\r\n\r\n".to_vec(),
                "400",
            ),
            (b"GARBAGE\r\n\r\n".to_vec(), "400"),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
                "400",
            ),
        ];
        for _ in 0..ROUNDS {
            for (raw, status) in &probes {
                let line = send_raw(port, raw).await;
                assert!(line.contains(status), "{status}: {line}");
            }
        }
        // An ordinary request after them.
        let res = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        // A real server error: the database loses a table under the running node.
        let conn = Database::connect(db.url.as_str()).await.unwrap();
        conn.execute_unprepared("ALTER TABLE orgs RENAME TO orgs_gone")
            .await
            .unwrap();
        let res = reqwest::get(format!("http://127.0.0.1:{port}/o/no-such-org-xyz/login"))
            .await
            .unwrap();
        assert!(res.status().is_server_error(), "{}", res.status());
        conn.close().await.unwrap();

        let log = node.stop().await;
        let all = lines(&log);
        let errors: Vec<&serde_json::Value> =
            all.iter().filter(|l| l["level"] == "ERROR").collect();
        let from_http_layer: Vec<&&serde_json::Value> = errors
            .iter()
            .filter(|l| l["target"].as_str().is_some_and(|t| t.starts_with("actix")))
            .collect();
        assert!(
            from_http_layer.is_empty(),
            "{} ERROR lines for {} malformed requests: {from_http_layer:#?}",
            from_http_layer.len(),
            ROUNDS * probes.len()
        );
        assert!(
            errors.iter().any(|l| l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("portcullis"))),
            "the server error is logged at ERROR: {log}"
        );
        // The mistakes are counted in a warning, not lost.
        let warned: Vec<&serde_json::Value> = all
            .iter()
            .filter(|l| {
                l["level"] == "WARN" && l["fields"]["message"] == "malformed requests refused"
            })
            .collect();
        assert_eq!(warned.len(), 1, "one sampled warning: {log}");
        assert_eq!(
            warned[0]["fields"]["refused"].as_u64(),
            Some((ROUNDS * probes.len()) as u64),
            "{}",
            warned[0]
        );
    }
);
