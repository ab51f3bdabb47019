//! Prometheus metrics (issue 21): the node's counters and histograms, recorded through the
//! `metrics` facade into this node's own `metrics-exporter-prometheus` recorder (not a global
//! one: two nodes in one process, as in the tests, count apart), and the gauges read at scrape
//! time from the store and the node (`Metrics::render`). Names follow the Prometheus
//! conventions (`portcullis_` prefix, `_total`, `_seconds`). Off unless `metrics.bind` is set;
//! then every recording call is a no-op.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Latency buckets (seconds) of every `_seconds` histogram: 5 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label value of series past the per-app label limit, and of unmatched routes.
pub const OTHER: &str = "other";

/// The node's metrics; cheap to clone. `Metrics::default()` is off.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    label_limit: usize,
    /// App labels handed out so far (bounded by `label_limit`).
    apps: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.inner.is_some() {
            "Metrics(on)"
        } else {
            "Metrics(off)"
        })
    }
}

/// What the store and the node report at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live IdP sessions per org slug.
    pub idp_sessions: Vec<(String, i64)>,
    /// Live app sessions per org slug.
    pub app_sessions: Vec<(String, i64)>,
    /// How many orgs exist (decides whether the org label is used).
    pub orgs: usize,
    /// Logout deliveries still pending, and the age of the oldest (seconds; 0 when none).
    pub logout_pending: i64,
    pub logout_oldest_pending_secs: f64,
    /// Emails still pending, and the age of the oldest.
    pub email_pending: i64,
    pub email_oldest_pending_secs: f64,
    /// Database pool connections open and idle (`None` when the driver does not say).
    pub db_pool: Option<(u32, u32)>,
    /// The cache circuit is open (the backend is treated as down), and writes queued for it.
    pub cache_circuit_open: bool,
    pub cache_queued_writes: usize,
    /// Sign-ins waiting for a password check, and password hashes running now.
    pub argon2_waiting: usize,
    pub argon2_running: usize,
}

impl Metrics {
    /// Metrics on, with per-org and per-app labels below `label_limit` orgs (apps).
    pub fn new(label_limit: usize) -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, describe_all);
        Ok(Self {
            inner: Some(Arc::new(Inner {
                recorder,
                handle,
                label_limit,
                apps: Mutex::new(HashSet::new()),
            })),
        })
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    fn with(&self, f: impl FnOnce()) {
        if let Some(inner) = &self.inner {
            metrics::with_local_recorder(&inner.recorder, f);
        }
    }

    /// One HTTP request answered: its route template (never the raw path), method, status
    /// and how long it took.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let (route, method) = (route.to_owned(), method.to_owned());
        self.with(|| {
            let status = status.to_string();
            counter!("portcullis_http_requests_total", "route" => route.clone(),
                "method" => method.clone(), "status" => status)
            .increment(1);
            histogram!("portcullis_http_request_duration_seconds", "route" => route,
                "method" => method)
            .record(seconds);
        });
    }

    /// One sign-in step finished: `factor` (password, passkey, security_key, recovery_code)
    /// and its `outcome` (signed_in, second_factor, enrolment, invalid, throttled, busy…).
    pub fn sign_in(&self, factor: &'static str, outcome: &'static str) {
        self.with(|| {
            counter!("portcullis_sign_ins_total", "factor" => factor, "outcome" => outcome)
                .increment(1);
            if outcome == "throttled" {
                counter!("portcullis_throttled_attempts_total", "factor" => factor).increment(1);
            }
        });
    }

    /// Tokens issued at the token endpoint: `grant` and the app's type.
    pub fn token_issued(&self, grant: &str, app_type: &'static str) {
        let grant = grant.to_owned();
        self.with(|| {
            counter!("portcullis_tokens_issued_total", "grant" => grant, "app_type" => app_type)
                .increment(1);
        });
    }

    /// One back-channel logout attempt's outcome (delivered, retry, failed), by app while
    /// fewer apps than the label limit were seen (then "other").
    pub fn logout_delivery(&self, app: &str, outcome: &'static str) {
        let app = self.app_label(app);
        self.with(|| {
            counter!("portcullis_logout_deliveries_total", "app" => app, "outcome" => outcome)
                .increment(1);
        });
    }

    /// How long a password hash waited for a hashing slot.
    pub fn argon2_wait(&self, seconds: f64) {
        self.with(|| histogram!("portcullis_argon2_wait_seconds").record(seconds));
    }

    /// One email attempt's outcome (sent, retry, failed).
    pub fn email(&self, outcome: &'static str) {
        self.with(|| {
            counter!("portcullis_emails_total", "outcome" => outcome).increment(1);
        });
    }

    /// One audit sink batch attempted: `delivered` or `retry`.
    pub fn audit_sink_batch(&self, outcome: &'static str) {
        self.with(|| {
            counter!("portcullis_audit_sink_batches_total", "outcome" => outcome).increment(1);
        });
    }

    fn app_label(&self, app: &str) -> String {
        let Some(inner) = &self.inner else {
            return OTHER.to_owned();
        };
        let mut apps = inner.apps.lock().unwrap_or_else(|p| p.into_inner());
        if apps.contains(app) || apps.len() < inner.label_limit {
            apps.insert(app.to_owned());
            app.to_owned()
        } else {
            OTHER.to_owned()
        }
    }

    /// Sets the scrape-time gauges from `snap` and renders every series in the Prometheus
    /// text format; empty when metrics are off.
    pub fn render(&self, snap: &Snapshot) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let per_org = snap.orgs < inner.label_limit;
        self.with(|| set_gauges(snap, per_org));
        inner.handle.render()
    }
}

/// Live sessions per org below the label limit; one total series beyond.
fn session_gauges(name: &'static str, rows: &[(String, i64)], per_org: bool) {
    if per_org {
        for (org, n) in rows {
            gauge!(name, "org" => org.clone()).set(*n as f64);
        }
    } else {
        gauge!(name).set(rows.iter().map(|(_, n)| *n as f64).sum::<f64>());
    }
}

fn set_gauges(s: &Snapshot, per_org: bool) {
    session_gauges("portcullis_idp_sessions", &s.idp_sessions, per_org);
    session_gauges("portcullis_app_sessions", &s.app_sessions, per_org);
    gauge!("portcullis_logout_outbox_pending").set(s.logout_pending as f64);
    gauge!("portcullis_logout_outbox_oldest_pending_seconds").set(s.logout_oldest_pending_secs);
    gauge!("portcullis_email_outbox_pending").set(s.email_pending as f64);
    gauge!("portcullis_email_outbox_oldest_pending_seconds").set(s.email_oldest_pending_secs);
    if let Some((open, idle)) = s.db_pool {
        gauge!("portcullis_db_pool_connections", "state" => "in_use")
            .set(f64::from(open.saturating_sub(idle)));
        gauge!("portcullis_db_pool_connections", "state" => "idle").set(f64::from(idle));
    }
    gauge!("portcullis_cache_circuit_open").set(if s.cache_circuit_open { 1.0 } else { 0.0 });
    gauge!("portcullis_cache_queued_writes").set(s.cache_queued_writes as f64);
    gauge!("portcullis_argon2_waiting").set(s.argon2_waiting as f64);
    gauge!("portcullis_argon2_running").set(s.argon2_running as f64);
}

/// Every metric this module exports, with its help text (the names the dashboard may use).
pub const NAMES: &[(&str, &str)] = &[
    (
        "portcullis_http_requests_total",
        "HTTP requests answered, by route template, method and status.",
    ),
    (
        "portcullis_http_request_duration_seconds",
        "HTTP request latency, by route template and method.",
    ),
    (
        "portcullis_sign_ins_total",
        "Sign-in steps finished, by factor and outcome.",
    ),
    (
        "portcullis_throttled_attempts_total",
        "Sign-in attempts refused by the throttle, by factor.",
    ),
    (
        "portcullis_tokens_issued_total",
        "Token responses issued, by grant type and app type.",
    ),
    (
        "portcullis_logout_deliveries_total",
        "Back-channel logout attempts, by app and outcome.",
    ),
    (
        "portcullis_emails_total",
        "Email sending attempts, by outcome.",
    ),
    (
        "portcullis_audit_sink_batches_total",
        "Audit sink batches attempted, by outcome.",
    ),
    (
        "portcullis_idp_sessions",
        "Live IdP sessions (per org below metrics.org_label_limit).",
    ),
    (
        "portcullis_app_sessions",
        "Live app sessions (per org below metrics.org_label_limit).",
    ),
    (
        "portcullis_logout_outbox_pending",
        "Logout deliveries pending.",
    ),
    (
        "portcullis_logout_outbox_oldest_pending_seconds",
        "Age of the oldest pending logout delivery.",
    ),
    ("portcullis_email_outbox_pending", "Emails pending."),
    (
        "portcullis_email_outbox_oldest_pending_seconds",
        "Age of the oldest pending email.",
    ),
    (
        "portcullis_db_pool_connections",
        "Database pool connections, by state (in_use, idle).",
    ),
    (
        "portcullis_cache_circuit_open",
        "1 while the cache is treated as unreachable.",
    ),
    (
        "portcullis_cache_queued_writes",
        "Cache writes queued until the cache is back.",
    ),
    (
        "portcullis_argon2_waiting",
        "Sign-ins waiting for a password check on this node.",
    ),
    (
        "portcullis_argon2_running",
        "Password hashes running on this node.",
    ),
    (
        "portcullis_argon2_wait_seconds",
        "Wait of each password hash for a hashing slot.",
    ),
];

fn describe_all() {
    for (name, help) in NAMES {
        let (name, help) = (*name, *help);
        if name.ends_with("_total") {
            describe_counter!(name, help);
        } else if name.ends_with("_duration_seconds") || name.ends_with("_wait_seconds") {
            describe_histogram!(name, metrics::Unit::Seconds, help);
        } else {
            describe_gauge!(name, help);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing_and_renders_nothing() {
        let m = Metrics::default();
        m.sign_in("password", "signed_in");
        assert_eq!(m.render(&Snapshot::default()), "");
    }

    #[test]
    fn app_labels_stop_at_the_limit() {
        let m = Metrics::new(2).unwrap();
        m.logout_delivery("a", "delivered");
        m.logout_delivery("b", "delivered");
        m.logout_delivery("c", "delivered");
        m.logout_delivery("a", "delivered");
        let text = m.render(&Snapshot::default());
        assert!(text.contains(r#"app="a",outcome="delivered"} 2"#), "{text}");
        assert!(
            text.contains(r#"app="other",outcome="delivered"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"app="c""#), "{text}");
    }

    #[test]
    fn org_labels_only_below_the_limit() {
        let snap = |orgs| Snapshot {
            idp_sessions: vec![("acme".into(), 2), ("globex".into(), 3)],
            orgs,
            ..Snapshot::default()
        };
        let text = Metrics::new(3).unwrap().render(&snap(2));
        assert!(
            text.contains(r#"portcullis_idp_sessions{org="globex"} 3"#),
            "{text}"
        );
        let text = Metrics::new(2).unwrap().render(&snap(2));
        assert!(text.contains("portcullis_idp_sessions 5"), "{text}");
        assert!(!text.contains("org="), "{text}");
    }

    /// Every `expr` string anywhere in the dashboard.
    fn exprs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("expr", Some(e)) => out.push(e),
                        _ => exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }

    /// The `portcullis_…` metric names an expression reads.
    fn names_in(expr: &str) -> Vec<&str> {
        let mut names = Vec::new();
        let mut rest = expr;
        while let Some(at) = rest.find("portcullis_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(&tail[..end]);
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn the_dashboard_reads_only_exported_metrics_and_shows_them_all() {
        let text = include_str!("../../deploy/grafana/portcullis.json");
        let dash: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        let mut found = Vec::new();
        exprs(&dash, &mut found);
        assert!(found.len() >= 20, "{found:?}");
        let exported: HashSet<&str> = NAMES.iter().map(|(n, _)| *n).collect();
        let mut used = HashSet::new();
        for expr in found {
            let names = names_in(expr);
            assert!(!names.is_empty(), "reads no metric of ours: {expr}");
            for name in names {
                // A histogram's series: its buckets, count and sum.
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| b.ends_with("_seconds"))
                    .unwrap_or(name);
                assert!(exported.contains(base), "not exported: {name} in {expr}");
                used.insert(base);
            }
        }
        let unused: Vec<_> = exported.difference(&used).collect();
        assert!(unused.is_empty(), "on no panel: {unused:?}");
    }
}
