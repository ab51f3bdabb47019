//! Issue 13, item 5: server-side request forgery through back-channel logout URIs. An org admin
//! registers a logout URI on a loopback or private target; the server must not connect there
//! (checked after DNS resolution, when it connects), must store one generic error whatever
//! listens (or not) at the target, must follow no redirect, and must still reach the ranges the
//! operator allowed (`outbound.allow_private`; the harness allows 127.0.0.1/32).

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, free_port, org_with_alice};
use portcullis::apps::{AppId, AppType, CreateApp};
use portcullis::slo::LogoutDelivery;
use portcullis::tenancy::Org;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The stored error of every refused delivery.
const GENERIC: &str = "target address not allowed";

/// A node whose configuration allows no private range (the production default).
fn no_private_targets(f: figment::Figment) -> figment::Figment {
    f.merge(("outbound.allow_private", Vec::<String>::new()))
}

/// A loopback TCP server that counts every connection it accepts and answers each HTTP request
/// with `status` (and a `Location` when given).
struct Receiver {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(status: u16, location: Option<String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (connections, requests) = (connections.clone(), requests.clone());
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (requests, location) = (requests.clone(), location.clone());
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf).into_owned();
                        requests
                            .lock()
                            .unwrap()
                            .push(head.lines().next().unwrap_or_default().to_owned());
                        let mut res = format!(
                            "HTTP/1.1 {status} Test\r\nConnection: close\r\nContent-Length: 0\r\n"
                        );
                        if let Some(l) = &location {
                            res.push_str(&format!("Location: {l}\r\n"));
                        }
                        res.push_str("\r\n");
                        let _ = sock.write_all(res.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    });
                }
            })
        };
        Self {
            port,
            connections,
            requests,
            task,
        }
    }

    fn uri(&self, host: &str) -> String {
        format!("http://{host}:{}/backchannel", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A confidential web app with this back-channel logout URI.
async fn app_with_backchannel(app: &TestApp, org: &Org, name: &str, uri: &str) -> (Rp, AppId) {
    let mut req = CreateApp::new(name, AppType::Web);
    req.redirect_uris = vec![format!("http://127.0.0.1:9/{name}/callback")];
    req.backchannel_logout_uri = Some(uri.to_owned());
    let rp = Rp::register(app, org, req).await;
    let id = app
        .state
        .store
        .app_by_client_id(org.id, &rp.client_id)
        .await
        .unwrap()
        .unwrap()
        .id;
    (rp, id)
}

/// Signs in to every app in one browser, signs out (one delivery row per app), and runs one
/// pass of the delivery worker. Returns the rows afterwards.
async fn sign_in_out_and_deliver(app: &TestApp, org: &Org, rps: &[&Rp]) -> Vec<LogoutDelivery> {
    let mut b = Browser::new(&app.address, UA);
    for rp in rps {
        rp.sign_in(&mut b, &[]).await;
    }
    let slug = org.slug.as_str();
    let form = b.get(&format!("/o/{slug}/logout")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    let out = b
        .post(&format!("/o/{slug}/logout"), &[("csrf", &csrf)])
        .await;
    assert!(out.status < 400, "{}", out.body);
    assert_eq!(app.state.slo.run_once().await.unwrap(), rps.len());
    app.state.store.logout_deliveries(org.id).await.unwrap()
}

#[track_caller]
fn row(rows: &[LogoutDelivery], id: AppId) -> &LogoutDelivery {
    rows.iter()
        .find(|d| d.app_id == id)
        .expect("a delivery row")
}

both_backends!(
    security_ssrf_loopback_and_private_targets_are_refused,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, no_private_targets).await;
        let org = org_with_alice(&app, "acme").await;
        // A listening port and a closed one: an admin must not be able to tell them apart.
        let listening = Receiver::start(404, None).await;
        let closed = format!("http://127.0.0.1:{}/backchannel", free_port());
        let targets = [
            ("listening", listening.uri("127.0.0.1")),
            ("closed", closed),
            (
                "mapped",
                format!("https://[::ffff:127.0.0.1]:{}/backchannel", listening.port),
            ),
            ("private", "https://10.255.255.1/backchannel".to_owned()),
            ("metadata", "https://169.254.169.254/latest".to_owned()),
        ];
        let mut apps = Vec::new();
        for (name, uri) in &targets {
            apps.push(app_with_backchannel(&app, &org, name, uri).await);
        }
        let rps: Vec<&Rp> = apps.iter().map(|(rp, _)| rp).collect();
        let rows = sign_in_out_and_deliver(&app, &org, &rps).await;
        for ((name, uri), (_, id)) in targets.iter().zip(&apps) {
            let d = row(&rows, *id);
            assert_eq!(
                (d.status.as_str(), d.last_error.as_deref()),
                ("failed", Some(GENERIC)),
                "{name} {uri}: {d:?}"
            );
        }
        assert_eq!(
            listening.connections(),
            0,
            "the server connected to a loopback target: {:?}",
            listening.requests()
        );
    }
);

both_backends!(
    security_ssrf_a_name_resolving_to_loopback_is_refused_at_connect,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, no_private_targets).await;
        let org = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(204, None).await;
        // `localhost` passes every check made on the URI itself (a name, not an address); only the
        // resolved address tells it is loopback.
        let (rp, id) = app_with_backchannel(&app, &org, "named", &rx.uri("localhost")).await;
        let rows = sign_in_out_and_deliver(&app, &org, &[&rp]).await;
        let d = row(&rows, id);
        assert_eq!(
            (d.status.as_str(), d.last_error.as_deref()),
            ("failed", Some(GENERIC)),
            "{d:?}"
        );
        assert_eq!(rx.connections(), 0, "{:?}", rx.requests());
    }
);

both_backends!(security_ssrf_redirects_are_not_followed, |backend| {
    // Loopback allowed (the harness default): the first receiver is reached, its redirect is
    // not followed to the second.
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let target = Receiver::start(204, None).await;
    let moved = Receiver::start(307, Some(target.uri("127.0.0.1"))).await;
    let (rp, id) = app_with_backchannel(&app, &org, "moved", &moved.uri("127.0.0.1")).await;
    let rows = sign_in_out_and_deliver(&app, &org, &[&rp]).await;
    assert_eq!(moved.requests().len(), 1, "{:?}", moved.requests());
    assert!(moved.requests()[0].starts_with("POST /backchannel "));
    assert_eq!(target.connections(), 0, "the redirect was followed");
    let d = row(&rows, id);
    assert_ne!(d.status, "delivered", "{d:?}");
    assert!(
        d.last_error.as_deref().unwrap_or("").contains("307"),
        "{d:?}"
    );
});

both_backends!(
    security_ssrf_allowed_ranges_are_reached_by_address_and_name,
    |backend| {
        // The harness allows 127.0.0.1/32: an address in the range and a name resolving into it
        // are delivered (the slo tests rely on the same).
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let by_address = Receiver::start(204, None).await;
        let by_name = Receiver::start(200, None).await;
        let (a, id_a) =
            app_with_backchannel(&app, &org, "address", &by_address.uri("127.0.0.1")).await;
        let (n, id_n) = app_with_backchannel(&app, &org, "name", &by_name.uri("localhost")).await;
        let rows = sign_in_out_and_deliver(&app, &org, &[&a, &n]).await;
        for id in [id_a, id_n] {
            let d = row(&rows, id);
            assert_eq!(d.status, "delivered", "{d:?}");
        }
        assert_eq!(by_address.requests().len(), 1);
        assert_eq!(by_name.requests().len(), 1);
    }
);

both_backends!(
    security_ssrf_plain_http_backchannel_only_for_allowed_targets,
    |backend| {
        let strict = TestApp::spawn_with(&backend, no_private_targets).await;
        let internal = TestApp::spawn_with(&backend, |f| {
            f.merge(("outbound.allow_private", vec!["10.20.0.0/16"]))
        })
        .await;
        for (node, accepted) in [(&strict, false), (&internal, true)] {
            let org = node.state.orgs.create("acme", None, "test").await.unwrap();
            let register = |uri: &str| {
                let mut req = CreateApp::new("internal", AppType::Web);
                req.redirect_uris = vec!["https://app.example.com/cb".to_owned()];
                req.backchannel_logout_uri = Some(uri.to_owned());
                node.state.apps.create(&org, req, "test")
            };
            assert_eq!(
                register("http://10.20.0.5:8080/backchannel").await.is_ok(),
                accepted,
                "plain http to an internal address"
            );
            assert!(register("http://10.21.0.5/backchannel").await.is_err());
            assert!(
                register("http://app.example.com/backchannel")
                    .await
                    .is_err()
            );
            assert!(
                register("https://app.example.com/backchannel")
                    .await
                    .is_ok()
            );
        }
    }
);
