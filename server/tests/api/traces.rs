//! Traces over OTLP (issue 21): a loopback collector (allowed explicitly in the exporter's
//! outbound policy, refused without it) receives the spans of a code flow, each request one
//! trace whose root is the HTTP request span and whose children are the flow's steps; a W3C
//! `traceparent` is continued only from a trusted proxy.
//!
//! The subscriber and its exporter are process-wide (`telemetry.rs`): installed once for this
//! test binary, with one collector every test here shares; each test finds its own spans by
//! its org's id or its own trace id.

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, org_with_alice};
use crate::slo::{Receiver, register, run_once, sign_out_form};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use portcullis::config::TelemetryConfig;
use portcullis::outbound::OutboundPolicy;
use portcullis::telemetry::Traces;
use prost::Message;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The collector stub and the exporter that sends to it.
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    traces: Traces,
}

static COLLECTOR: OnceLock<Collector> = OnceLock::new();

fn telemetry(endpoint: &str) -> TelemetryConfig {
    TelemetryConfig {
        otlp_endpoint: endpoint.to_owned(),
        service_name: "portcullis-test".into(),
    }
}

/// Starts the collector on its own thread and runtime (it outlives each test's runtime) and
/// installs the exporter, allowed to reach it by `outbound.allow_private = 127.0.0.1/32`.
fn collector() -> &'static Collector {
    COLLECTOR.get_or_init(|| {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let sink = spans.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, sink));
        });
        // Without the explicit allowance the loopback collector is refused.
        let refused = portcullis::telemetry::otlp_layer::<tracing_subscriber::Registry>(
            &telemetry(&endpoint),
            &OutboundPolicy::default(),
        );
        let err = refused
            .err()
            .expect("a loopback collector is refused by default");
        assert!(err.to_string().contains("not allowed"), "{err}");
        let policy = OutboundPolicy::new(&["127.0.0.1/32".parse().unwrap()]);
        let (layer, traces) = portcullis::telemetry::otlp_layer(&telemetry(&endpoint), &policy)
            .unwrap()
            .expect("an endpoint turns export on");
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .expect("no other global subscriber in this test binary");
        Collector { spans, traces }
    })
}

/// An HTTP/1.1 server for OTLP/HTTP protobuf posts: decodes each body, keeps its spans.
async fn serve(listener: std::net::TcpListener, spans: Arc<Mutex<Vec<Span>>>) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(connection(sock, spans.clone()));
    }
}

async fn connection(sock: tokio::net::TcpStream, spans: Arc<Mutex<Vec<Span>>>) {
    let mut reader = BufReader::new(sock);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let received = request
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        keep(&mut spans.lock().unwrap(), received);
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        reader.get_mut().write_all(answer).await.unwrap();
    }
}

/// The spans these tests look for: every test of the binary exports through this collector
/// once it is installed, so only the flow's steps are kept, with the root spans they name as
/// parent (a child closes, and is queued, before its parent) and the `traceparent` tests' roots.
fn keep(kept: &mut Vec<Span>, received: impl Iterator<Item = Span>) {
    const STEPS: [&str; 5] = [
        "authorize decision",
        "password check",
        "token request",
        "code exchange",
        "logout delivery",
    ];
    for span in received {
        let wanted = STEPS.contains(&span.name.as_str())
            || kept.iter().any(|k| k.parent_span_id == span.span_id)
            || attr(&span, "http.target").is_some_and(|t| t.starts_with("/o/tp-"));
        if wanted {
            kept.push(span);
        }
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .clone()?;
    match value.value? {
        Value::StringValue(s) => Some(s),
        other => Some(format!("{other:?}")),
    }
}

/// Flushes the exporter until `found` picks what the test waits for from the spans received
/// (a request's root span closes just after its answer is sent).
async fn received<T>(mut found: impl FnMut(&[Span]) -> Option<T>) -> T {
    let c = collector();
    for _ in 0..100 {
        let traces = c.traces.clone();
        tokio::task::spawn_blocking(move || traces.flush())
            .await
            .unwrap();
        if let Some(t) = found(&c.spans.lock().unwrap()) {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the spans never arrived: {:#?}", c.spans.lock().unwrap());
}

fn by_id<'a>(spans: &'a [Span], id: &[u8]) -> Option<&'a Span> {
    spans.iter().find(|s| s.span_id == id)
}

/// The span named `name` for `org`, and its parent (the request's root span).
fn step_and_root(spans: &[Span], name: &str, org: &str) -> Option<(Span, Span)> {
    let step = spans
        .iter()
        .find(|s| s.name == name && attr(s, "org").as_deref() == Some(org))?;
    let root = by_id(spans, &step.parent_span_id)?;
    Some((step.clone(), root.clone()))
}

both_backends!(
    a_code_flow_sends_one_trace_per_request_with_its_steps_as_children,
    |backend| {
        collector();
        let app = TestApp::spawn_oidc_with(&backend, |f| f).await;
        let acme = org_with_alice(&app, "acme").await;
        let org = acme.id.0.to_string();
        let shop = register(&app, &acme, "shop", |_| {}).await;
        let mut b = Browser::new(&app.address, UA);
        shop.sign_in(&mut b, &[]).await;

        let (spans, token, root) = received(|spans| {
            let (token, root) = step_and_root(spans, "token request", &org)?;
            let code = spans
                .iter()
                .find(|s| s.name == "code exchange" && s.parent_span_id == token.span_id)?;
            Some((spans.to_vec(), token, (root, code.clone())))
        })
        .await;
        let (root, code) = root;
        // The token request: root span (no parent) → token request → code exchange, one trace.
        assert_eq!(root.name, "POST /o/{org}/token");
        assert!(root.parent_span_id.is_empty(), "{root:?}");
        assert_eq!(attr(&root, "http.route").as_deref(), Some("/o/{org}/token"));
        assert!(attr(&root, "request_id").is_some_and(|id| !id.is_empty()));
        assert_eq!(code.name, "code exchange");
        assert_eq!(token.trace_id, root.trace_id);
        assert_eq!(code.trace_id, root.trace_id);
        // The authorization decision and the password check: children of their own requests'
        // root spans, in traces of their own.
        for step in ["authorize decision", "password check"] {
            let (child, parent) = step_and_root(&spans, step, &org).expect(step);
            assert!(parent.parent_span_id.is_empty(), "{parent:?}");
            assert!(parent.name.contains("/o/{org}/"), "{}", parent.name);
            assert_eq!(child.trace_id, parent.trace_id);
            assert_ne!(child.trace_id, root.trace_id, "{step}");
        }
    }
);

both_backends!(
    a_back_channel_logout_post_carries_the_delivery_span_as_traceparent,
    |backend| {
        collector();
        let app = TestApp::spawn_oidc_with(&backend, |f| f).await;
        let acme = org_with_alice(&app, "acme").await;
        let org = acme.id.0.to_string();
        let rx = Receiver::start(200, std::time::Duration::ZERO).await;
        let shop = register(&app, &acme, "shop", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        shop.sign_in(&mut b, &[]).await;
        sign_out_form(&mut b, "acme").await;
        assert_eq!(run_once(&app).await, 1);
        let sent = rx.traceparents();
        let sent = sent[0]
            .as_deref()
            .expect("a traceparent on the logout POST");
        let delivery = received(|spans| {
            spans
                .iter()
                .find(|s| s.name == "logout delivery" && attr(s, "org").as_deref() == Some(&org))
                .cloned()
        })
        .await;
        let expected = format!(
            "00-{}-{}-01",
            hex(&delivery.trace_id),
            hex(&delivery.span_id)
        );
        assert_eq!(sent, expected);
    }
);

/// A request carrying `traceparent` from `app`'s loopback client: the root span it made.
async fn root_for(app: &TestApp, slug: &str, traceparent: &str) -> Span {
    let path = format!("/o/{slug}/.well-known/openid-configuration");
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    received(|spans| {
        spans
            .iter()
            .find(|s| attr(s, "http.target").as_deref() == Some(path.as_str()))
            .cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_continued_only_from_a_trusted_proxy() {
    collector();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent}-01");

    let direct = TestApp::spawn_oidc_with(&Backend::Embedded, |f| f).await;
    org_with_alice(&direct, "tp-direct").await;
    let root = root_for(&direct, "tp-direct", &traceparent).await;
    assert_ne!(
        hex(&root.trace_id),
        trace_id,
        "a client's traceparent is ignored"
    );
    assert!(root.parent_span_id.is_empty());

    let proxied = TestApp::spawn_oidc_with(&Backend::Embedded, |f| {
        f.merge(("http.trusted_proxies", vec!["127.0.0.1"]))
    })
    .await;
    org_with_alice(&proxied, "tp-proxied").await;
    let root = root_for(&proxied, "tp-proxied", &traceparent).await;
    assert_eq!(hex(&root.trace_id), trace_id);
    assert_eq!(hex(&root.parent_span_id), parent);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
