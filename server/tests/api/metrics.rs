//! Prometheus metrics (issue 21): `/metrics` on its own listener (`metrics.bind`), never on the
//! public one; each counter moves by exactly what a sign-in, a code exchange, a refresh and a
//! back-channel logout delivery add; the gauges read the store at scrape time; and the output
//! passes `promtool check metrics` (required under CI=true, skipped elsewhere without promtool).

use crate::browser::Browser;
use crate::helpers::{TestApp, free_port, org_with_alice};
use crate::slo::{Receiver, register, run_once, sign_out_form};
use std::collections::BTreeMap;
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// One scrape: every sample by its series (`name{k="v",…}` with the labels sorted).
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// The value of `name` with exactly these labels (0 when the series is absent).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0.0)
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// Parses the text format's sample lines (label values here hold no `","` or quotes).
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().expect("a number");
        let key = match key.split_once('{') {
            None => key.to_owned(),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closed labels");
                let labels: Vec<(&str, &str)> = body
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").expect("k=\"v\"");
                        (k, v.trim_end_matches('"'))
                    })
                    .collect();
                series(name, &labels)
            }
        };
        assert!(
            samples.insert(key, value).is_none(),
            "a series twice: {line}"
        );
    }
    samples
}

async fn scrape(port: u16) -> Scrape {
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = res.text().await.unwrap();
    promtool_check(&text);
    Scrape {
        samples: parse(&text),
        text,
    }
}

/// `promtool check metrics` on a scrape: required under CI=true, skipped without promtool.
fn promtool_check(text: &str) {
    use std::io::Write;
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if !ci => {
            eprintln!("promtool not run ({e}); install Debian's prometheus package");
            return;
        }
        Err(e) => panic!("CI=true needs promtool (Debian package prometheus): {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The difference of one series between two scrapes.
fn moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.get(name, labels) - before.get(name, labels)
}

both_backends!(
    each_counter_moves_by_exactly_what_the_flows_add,
    |backend| {
        let port = free_port();
        let app = TestApp::spawn_oidc_with(&backend, |f| {
            f.merge(("metrics.bind", format!("127.0.0.1:{port}")))
        })
        .await;
        // Never on the public listener.
        assert_eq!(app.get("/metrics").await.status(), 404);

        let acme = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(200, Duration::ZERO).await;
        let shop = register(&app, &acme, "shop", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let before = scrape(port).await;
        assert_eq!(
            before.get("portcullis_idp_sessions", &[("org", "acme")]),
            0.0
        );

        // A password sign-in and a code exchange, then a refresh.
        let mut b = Browser::new(&app.address, UA);
        let tokens = shop.sign_in(&mut b, &[]).await;
        let mid = scrape(port).await;
        assert_eq!(mid.get("portcullis_idp_sessions", &[("org", "acme")]), 1.0);
        assert_eq!(mid.get("portcullis_app_sessions", &[("org", "acme")]), 1.0);
        let refreshed = shop.refresh(&tokens.refresh).await;
        assert_eq!(refreshed.status, 200, "{refreshed:?}");

        // Single Logout: one delivery queued, then delivered by one worker pass.
        sign_out_form(&mut b, "acme").await;
        let queued = scrape(port).await;
        assert_eq!(queued.get("portcullis_logout_outbox_pending", &[]), 1.0);
        assert_eq!(
            queued.get("portcullis_idp_sessions", &[("org", "acme")]),
            0.0
        );
        assert_eq!(run_once(&app).await, 1);
        assert_eq!(rx.count(), 1);
        let after = scrape(port).await;

        let m = |name, labels: &[(&str, &str)]| moved(&before, &after, name, labels);
        let signed_in = [("factor", "password"), ("outcome", "signed_in")];
        assert_eq!(
            m("portcullis_sign_ins_total", &signed_in),
            1.0,
            "{}",
            after.text
        );
        let code = [("grant", "authorization_code"), ("app_type", "web")];
        assert_eq!(m("portcullis_tokens_issued_total", &code), 1.0);
        let refresh = [("grant", "refresh_token"), ("app_type", "web")];
        assert_eq!(m("portcullis_tokens_issued_total", &refresh), 1.0);
        let delivered = [("app", shop.client_id.as_str()), ("outcome", "delivered")];
        assert_eq!(m("portcullis_logout_deliveries_total", &delivered), 1.0);
        // Requests by route template: the two token requests, none by raw path.
        let token = [
            ("route", "/o/{org}/token"),
            ("method", "POST"),
            ("status", "200"),
        ];
        assert_eq!(m("portcullis_http_requests_total", &token), 2.0);
        let latency = [("route", "/o/{org}/token"), ("method", "POST")];
        assert_eq!(
            m("portcullis_http_request_duration_seconds_count", &latency),
            2.0
        );
        assert!(!after.text.contains("/o/acme/"), "{}", after.text);
        // The public /metrics request counted as unmatched, never by its path.
        let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
        assert_eq!(after.get("portcullis_http_requests_total", &unmatched), 1.0);
        // One password check, which waited for its argon2 slot once.
        assert_eq!(m("portcullis_argon2_wait_seconds_count", &[]), 1.0);
        // Nothing failed or was throttled.
        assert_eq!(
            m(
                "portcullis_throttled_attempts_total",
                &[("factor", "password")]
            ),
            0.0
        );
        assert_eq!(after.get("portcullis_logout_outbox_pending", &[]), 0.0);
    }
);
