//! Audit streaming to an org's sink (issue 21, item 4), from the outside: the admin API
//! (`/api/v1/orgs/{org}/audit-sink`), and the worker driven with `run_once` on the fixed clock
//! against a real HTTP receiver on loopback. The receiver verifies each batch's HMAC with the
//! secret the admin set (ring, independently of the server's code) and keeps what a real one
//! would: events by sequence, dropping numbers it already has and asserting no gap and no
//! reordering. Both backends; the late-commit race on PostgreSQL (on SQLite one transaction
//! writes at a time, so it cannot happen).

use crate::admin_api::service_token;
use crate::helpers::{Answer, TestApp, eventually};
use portcullis::audit::{AuditEvent, BatchBody, SequencedEvent};
use portcullis::clock::Clock;
use portcullis::tenancy::Org;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const SECRET: &str = "correct horse battery staple";

/// One POST the receiver answered, with the status it answered.
#[derive(Debug, Clone)]
struct Post {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A sink receiver on a loopback port, answering `status` (changeable) to every POST.
struct Receiver {
    port: u16,
    status: Arc<AtomicU16>,
    posts: Arc<Mutex<Vec<Post>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// Holds the answer to a receiver's first POST until opened (or dropped).
type Gate = Option<tokio::sync::watch::Receiver<bool>>;

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(
    sock: &mut tokio::net::TcpStream,
) -> Option<(BTreeMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let headers: BTreeMap<String, String> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((headers, buf[head_end..head_end + length].to_vec()))
}

impl Receiver {
    async fn start(status: u16) -> Self {
        Self::start_gated(status, None).await
    }

    async fn start_gated(status: u16, gate: Gate) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(status));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let task = {
            let (status, posts, connections) = (status.clone(), posts.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
                    let (status, posts) = (status.clone(), posts.clone());
                    let gate = gate.clone().filter(|_| first);
                    tokio::spawn(async move {
                        let Some((headers, body)) = read_request(&mut sock).await else {
                            return;
                        };
                        let code = status.load(Ordering::SeqCst);
                        posts.lock().unwrap().push(Post {
                            status: code,
                            headers,
                            body,
                        });
                        if let Some(mut gate) = gate {
                            let _ = gate.wait_for(|open| *open).await;
                        }
                        let res = format!(
                            "HTTP/1.1 {code} Test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                        );
                        let _ = sock.write_all(res.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    });
                }
            })
        };
        Self {
            port,
            status,
            posts,
            connections,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/audit", self.port)
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// What a receiver that dedupes by sequence keeps from the batches it acknowledged, after
    /// checking each one's signature with `secret` and its headers against its body. Panics on
    /// a gap or a step back in the sequence.
    fn accepted(&self, secret: &str) -> Vec<SequencedEvent> {
        let mut kept: Vec<SequencedEvent> = Vec::new();
        for post in self.posts() {
            let body: BatchBody = serde_json::from_slice(&post.body).unwrap();
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            let sig = post.headers["x-portcullis-signature"].clone();
            let hex = sig.strip_prefix("sha256=").expect("sha256= prefix");
            let raw: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            ring::hmac::verify(&key, &post.body, &raw).expect("a valid HMAC of the body");
            assert_eq!(
                post.headers["x-portcullis-batch-id"],
                body.batch_id.to_string()
            );
            assert_eq!(
                post.headers["x-portcullis-timestamp"],
                body.sent_at.to_string()
            );
            assert!(post.headers["content-type"].starts_with("application/json"));
            assert!(body.events.len() <= 100, "batches hold at most 100 events");
            assert_eq!(body.first_seq, body.events[0].seq);
            assert_eq!(body.last_seq, body.events.last().unwrap().seq);
            if !(200..300).contains(&post.status) {
                continue;
            }
            for e in body.events {
                let last = kept.last().map_or(e.seq - 1, |k| k.seq);
                if e.seq <= last {
                    continue; // Already have it (a batch sent again).
                }
                assert_eq!(e.seq, last + 1, "no gap in the sequence");
                kept.push(e);
            }
        }
        kept
    }
}

async fn api(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
    let url = format!("{}/api/v1{path}", app.address);
    let mut req = match method {
        "get" => app.client.get(url),
        "put" => app.client.put(url),
        "delete" => app.client.delete(url),
        other => panic!("method {other}"),
    };
    req = req.bearer_auth(token);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    Answer::read(req.send().await.unwrap()).await
}

fn sink_path(org: &Org) -> String {
    format!("/orgs/{}/audit-sink", org.slug.as_str())
}

async fn put_sink(app: &TestApp, org: &Org, token: &str, body: Value) -> Answer {
    api(app, "put", &sink_path(org), token, Some(body)).await
}

/// An org and its admin token; the clock is then moved a second on, so that what comes next
/// (the sink) is later than the org's own first events.
async fn new_org(app: &TestApp, slug: &str) -> (Org, String) {
    let org = app.state.orgs.create(slug, None, "test").await.unwrap();
    let token = service_token(app, &org).await;
    app.clock.advance(chrono::Duration::seconds(1));
    (org, token)
}

/// An org, its admin token, and a sink on `url` with `secret`.
async fn org_with_sink(app: &TestApp, slug: &str, url: &str, secret: &str) -> (Org, String) {
    let (org, token) = new_org(app, slug).await;
    let answer = put_sink(app, &org, &token, json!({ "url": url, "secret": secret })).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    (org, token)
}

/// Writes `n` audit events in the org, each in its own transaction.
async fn events(app: &TestApp, org: &Org, n: usize, label: &str) {
    for i in 0..n {
        let event = AuditEvent {
            org_id: org.id,
            actor: "test".into(),
            action: "test.event",
            target: Some(format!("{label}-{i}")),
            details: json!({ "n": i }),
        };
        app.state
            .store
            .record_audit(&event, app.clock.now())
            .await
            .unwrap();
    }
}

/// The org's audit events since the sink was made (its own `audit_sink.configured` first), as
/// the admin API lists them, oldest first.
async fn events_since_sink(app: &TestApp, org: &Org, token: &str) -> Vec<String> {
    let mut all = Vec::new();
    for page in 1.. {
        let path = format!(
            "/orgs/{}/audit-events?per_page=200&page={page}",
            org.slug.as_str()
        );
        let answer = api(app, "get", &path, token, None).await;
        let items = answer.json["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        all.extend(items);
    }
    all.reverse();
    let start = all
        .iter()
        .position(|e| e["action"] == "audit_sink.configured")
        .unwrap();
    all[start..]
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn status(app: &TestApp, org: &Org, token: &str) -> Value {
    let answer = api(app, "get", &sink_path(org), token, None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    answer.json["status"].clone()
}

/// Runs the worker until the org's sink has nothing pending, moving the clock past any backoff.
async fn drain(app: &TestApp, org: &Org, token: &str) {
    for _ in 0..30 {
        app.state.audit_sinks.run_once().await.unwrap();
        if status(app, org, token).await["pending"] == 0 {
            return;
        }
        app.clock.advance(chrono::Duration::seconds(30));
    }
    panic!(
        "the sink never caught up: {}",
        status(app, org, token).await
    );
}

both_backends!(
    a_receiver_that_fails_then_recovers_gets_every_event_once_in_order,
    |backend| {
        // Metrics on (a listener on any port): the batches are counted by outcome.
        let app = TestApp::spawn_with(&backend, |f| f.merge(("metrics.bind", "127.0.0.1:0"))).await;
        let receiver = Receiver::start(500).await;
        let (org, token) = org_with_sink(&app, "acme", &receiver.url(), SECRET).await;
        events(&app, &org, 150, "a").await;

        // Failing: the first batch is tried, kept and retried after a backoff.
        assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 1);
        let s = status(&app, &org, &token).await;
        assert_eq!(s["attempts"], 1);
        assert_eq!(s["last_error"], "HTTP 500");
        assert_eq!(s["delivered_seq"], 0);
        assert_eq!(s["pending"], 151);
        assert_eq!(
            app.state.audit_sinks.run_once().await.unwrap(),
            0,
            "not due yet"
        );
        app.clock.advance(chrono::Duration::seconds(30));
        events(&app, &org, 60, "b").await;
        assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 1);
        assert_eq!(status(&app, &org, &token).await["attempts"], 2);
        let failed = receiver.posts();
        assert_eq!(failed.len(), 2);
        let (a, b): (BatchBody, BatchBody) = (
            serde_json::from_slice(&failed[0].body).unwrap(),
            serde_json::from_slice(&failed[1].body).unwrap(),
        );
        assert_eq!(
            (a.batch_id, a.events),
            (b.batch_id, b.events),
            "the same batch again"
        );

        // Recovered: everything arrives, once, in order.
        receiver.set_status(200);
        app.clock.advance(chrono::Duration::seconds(30));
        events(&app, &org, 40, "c").await;
        drain(&app, &org, &token).await;
        let got = receiver.accepted(SECRET);
        let expected = events_since_sink(&app, &org, &token).await;
        let ids: Vec<String> = got.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids.len(), 1 + 150 + 60 + 40);
        assert_eq!(ids, expected, "every event once, in the order written");
        assert_eq!(got[0].action, "audit_sink.configured");
        assert_eq!(got[0].seq, 1);
        let s = status(&app, &org, &token).await;
        assert_eq!(s["delivered_seq"], 251);
        assert_eq!(s["last_seq"], 251);
        assert_eq!(s["attempts"], 0);
        assert!(s["last_error"].is_null());
        assert!(s["last_success_at"].is_string());

        // A later event goes out on the next pass, numbered next.
        events(&app, &org, 1, "d").await;
        app.state.audit_sinks.run_once().await.unwrap();
        let got = receiver.accepted(SECRET);
        assert_eq!(got.len(), 252);
        assert_eq!(got.last().unwrap().target.as_deref(), Some("d-0"));
        let text = app
            .state
            .metrics
            .render(&portcullis::metrics::Snapshot::default());
        assert!(
            text.contains("portcullis_audit_sink_batches_total{outcome=\"retry\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_audit_sink_batches_total{outcome=\"delivered\"} 4"),
            "{text}"
        );
    }
);

both_backends!(
    the_secret_is_never_shown_and_is_kept_across_changes,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let receiver = Receiver::start(200).await;
        let (org, token) = new_org(&app, "acme").await;
        assert_eq!(
            api(&app, "get", &sink_path(&org), &token, None)
                .await
                .status,
            404
        );

        // A new sink needs a secret of at least 16 bytes.
        let no_secret = put_sink(&app, &org, &token, json!({ "url": receiver.url() })).await;
        assert_eq!(no_secret.status, 422, "{:?}", no_secret.json);
        assert!(no_secret.json.to_string().contains("secret"));
        let short = put_sink(
            &app,
            &org,
            &token,
            json!({ "url": receiver.url(), "secret": "short" }),
        )
        .await;
        assert_eq!(short.status, 422);

        let made = put_sink(
            &app,
            &org,
            &token,
            json!({ "url": receiver.url(), "secret": SECRET }),
        )
        .await;
        assert_eq!(made.status, 200);
        assert_eq!(made.json["secret_set"], true);
        assert_eq!(made.json["enabled"], true);
        // A change without a secret keeps it.
        let changed = put_sink(
            &app,
            &org,
            &token,
            json!({ "url": format!("{}?v=2", receiver.url()) }),
        )
        .await;
        assert_eq!(changed.status, 200);
        let got = api(&app, "get", &sink_path(&org), &token, None).await;
        let path = format!("/orgs/{}/audit-events?per_page=200", org.slug.as_str());
        let trail = api(&app, "get", &path, &token, None).await;
        for text in [&made.json, &changed.json, &got.json, &trail.json] {
            assert!(!text.to_string().contains(SECRET), "{text}");
        }
        assert!(trail.json.to_string().contains("audit_sink.configured"));
        app.state.audit_sinks.run_once().await.unwrap();
        // Signed with the secret set at creation (`accepted` checks every signature).
        assert_eq!(receiver.accepted(SECRET).len(), 2);
        assert!(
            receiver.posts()[0]
                .headers
                .values()
                .all(|v| !v.contains(SECRET))
        );

        // Deleted: no sink, and nothing more is sent.
        assert_eq!(
            api(&app, "delete", &sink_path(&org), &token, None)
                .await
                .status,
            204
        );
        assert_eq!(
            api(&app, "get", &sink_path(&org), &token, None)
                .await
                .status,
            404
        );
        assert_eq!(
            api(&app, "delete", &sink_path(&org), &token, None)
                .await
                .status,
            404
        );
        events(&app, &org, 3, "x").await;
        assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 0);
        assert_eq!(receiver.posts().len(), 1);
    }
);

both_backends!(private_targets_are_refused_unless_allowed, |backend| {
    let app = TestApp::spawn_with(&backend, |f| {
        f.merge(("outbound.allow_private", Vec::<String>::new()))
    })
    .await;
    let receiver = Receiver::start(200).await;
    let (org, token) = new_org(&app, "acme").await;
    for url in [
        receiver.url(),
        "http://10.1.2.3/audit".to_owned(),
        "https://169.254.169.254/latest".to_owned(),
        "ftp://example.com/x".to_owned(),
    ] {
        let answer = put_sink(&app, &org, &token, json!({ "url": url, "secret": SECRET })).await;
        assert_eq!(answer.status, 422, "{url}: {:?}", answer.json);
    }
    // A name is checked where it resolves, at each connection: `localhost` is accepted as a
    // URL, and never connected to.
    let port = receiver.port;
    let url = format!("https://localhost:{port}/audit");
    let answer = put_sink(&app, &org, &token, json!({ "url": url, "secret": SECRET })).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 1);
    let s = status(&app, &org, &token).await;
    assert_eq!(s["last_error"], "target address not allowed");
    assert_eq!(s["delivered_seq"], 0);
    assert_eq!(receiver.connections(), 0);
});

both_backends!(an_orgs_events_go_only_to_its_own_sink, |backend| {
    let app = TestApp::spawn(&backend).await;
    let (ra, rb) = (Receiver::start(200).await, Receiver::start(200).await);
    let (a, ta) = org_with_sink(&app, "org-a", &ra.url(), SECRET).await;
    let (b, tb) = org_with_sink(&app, "org-b", &rb.url(), "another secret, org b's").await;
    let c = app.state.orgs.create("org-c", None, "test").await.unwrap();
    events(&app, &a, 5, "a").await;
    events(&app, &b, 7, "b").await;
    events(&app, &c, 9, "c").await;
    drain(&app, &a, &ta).await;
    drain(&app, &b, &tb).await;
    let got_a = ra.accepted(SECRET);
    let got_b = rb.accepted("another secret, org b's");
    assert_eq!(got_a.len(), 6);
    assert_eq!(got_b.len(), 8);
    for post in ra.posts() {
        let body: BatchBody = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body.org_id, a.id.0);
    }
    for post in rb.posts() {
        let body: BatchBody = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body.org_id, b.id.0);
    }
    let targets = |got: &[SequencedEvent]| -> BTreeSet<String> {
        got.iter().filter_map(|e| e.target.clone()).collect()
    };
    assert!(targets(&got_a).iter().all(|t| t.starts_with("a-")));
    assert!(targets(&got_b).iter().all(|t| t.starts_with("b-")));
    // Each org numbers its own events from 1.
    assert_eq!((got_a[0].seq, got_b[0].seq), (1, 1));
    assert_eq!(ids_of(&got_a).len(), 6);
});

fn ids_of(got: &[SequencedEvent]) -> BTreeSet<Uuid> {
    got.iter().map(|e| e.id).collect()
}

both_backends!(a_disabled_sink_sends_nothing_until_enabled, |backend| {
    let app = TestApp::spawn(&backend).await;
    let receiver = Receiver::start(200).await;
    let (org, token) = new_org(&app, "acme").await;
    let body = json!({ "url": receiver.url(), "secret": SECRET, "enabled": false });
    let made = put_sink(&app, &org, &token, body).await;
    assert_eq!(made.status, 200);
    assert_eq!(made.json["enabled"], false);
    events(&app, &org, 12, "p").await;
    for _ in 0..3 {
        assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 0);
        app.clock.advance(chrono::Duration::seconds(30));
    }
    assert_eq!(receiver.connections(), 0);
    assert_eq!(status(&app, &org, &token).await["pending"], 13);
    // Enabled again: what waited goes out, in order, with the change itself.
    let on = put_sink(
        &app,
        &org,
        &token,
        json!({ "url": receiver.url(), "enabled": true }),
    )
    .await;
    assert_eq!(on.status, 200);
    drain(&app, &org, &token).await;
    let got = receiver.accepted(SECRET);
    assert_eq!(got.len(), 14);
    assert_eq!(got.last().unwrap().action, "audit_sink.configured");
});

both_backends!(
    a_transaction_that_commits_late_is_delivered_late,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        if !app.db_url.starts_with("postgres") {
            // SQLite: one transaction writes at a time; the worker's would wait for it.
            return;
        }
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
        let receiver = Receiver::start(200).await;
        let (org, token) = org_with_sink(&app, "acme", &receiver.url(), SECRET).await;
        // A transaction writes an event (an older id and time than the next one's) and is slow to
        // commit; meanwhile a later event commits and is delivered.
        let db = Database::connect(&app.db_url).await.unwrap();
        let txn = db.begin().await.unwrap();
        let early = Uuid::now_v7();
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_events (id, org_id, at, actor, action, target, details) \
         VALUES ($1, $2, $3, 'test', 'test.early', NULL, '{}')",
            [early.into(), org.id.0.into(), app.clock.now().into()],
        ))
        .await
        .unwrap();
        events(&app, &org, 1, "late").await;
        app.state.audit_sinks.run_once().await.unwrap();
        assert_eq!(receiver.accepted(SECRET).len(), 2);
        txn.commit().await.unwrap();
        app.state.audit_sinks.run_once().await.unwrap();
        let got = receiver.accepted(SECRET);
        assert_eq!(got.len(), 3, "the late commit is not passed over");
        assert_eq!(got[2].id, early);
        assert_eq!(got[2].seq, 3);
        assert_eq!(status(&app, &org, &token).await["pending"], 0);
    }
);

both_backends!(
    a_batch_whose_2xx_was_not_recorded_is_sent_again_unchanged,
    |backend| {
        // Node 1 sends a batch and its receiver holds the answer past node 1's lease; node 2 (same
        // database, its own clock) may take the sink only once the lease is over, and sends the
        // same batch. Node 1's late 2xx is then not recorded (its claim is gone): the receiver got
        // the batch twice, with one id, and keeps each event once.
        let app = TestApp::spawn(&backend).await;
        let other = TestApp::spawn_on(&app.db_url, app.redis.clone(), |f| f).await;
        let (open, gate) = tokio::sync::watch::channel(false);
        let receiver = Receiver::start_gated(200, Some(gate)).await;
        let (org, token) = org_with_sink(&app, "acme", &receiver.url(), SECRET).await;
        events(&app, &org, 5, "e").await;
        let first = tokio::spawn({
            let sinks = app.state.audit_sinks.clone();
            async move { sinks.run_once().await.unwrap() }
        });
        assert!(
            eventually(std::time::Duration::from_secs(20), || async {
                !receiver.posts().is_empty()
            })
            .await
        );
        other.clock.advance(chrono::Duration::seconds(30));
        assert_eq!(
            other.state.audit_sinks.run_once().await.unwrap(),
            0,
            "leased by node 1"
        );
        other.clock.advance(chrono::Duration::seconds(60));
        assert_eq!(other.state.audit_sinks.run_once().await.unwrap(), 1);
        open.send(true).unwrap();
        assert_eq!(first.await.unwrap(), 1);

        let posts = receiver.posts();
        assert_eq!(posts.len(), 2);
        let (a, b): (BatchBody, BatchBody) = (
            serde_json::from_slice(&posts[0].body).unwrap(),
            serde_json::from_slice(&posts[1].body).unwrap(),
        );
        assert_eq!((a.batch_id, &a.events), (b.batch_id, &b.events));
        let got = receiver.accepted(SECRET);
        assert_eq!(got.len(), 6);
        let s = status(&app, &org, &token).await;
        assert_eq!(
            (s["delivered_seq"].as_i64(), s["pending"].as_i64()),
            (Some(6), Some(0))
        );
        // Nothing more to send, on either node.
        assert_eq!(app.state.audit_sinks.run_once().await.unwrap(), 0);
        assert_eq!(other.state.audit_sinks.run_once().await.unwrap(), 0);
        assert_eq!(receiver.posts().len(), 2);
    }
);
