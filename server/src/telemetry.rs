//! Structured logs through `tracing`: human-readable or JSON, one line per event, each carrying
//! the request id of the request it belongs to (a span opened by the HTTP layer).
//!
//! Client mistakes are not server errors: the HTTP layer (actix-http) logs every request it
//! cannot parse (a head too large, bytes that are not a header, a bad request line) and every
//! connection a client breaks at ERROR, so any client could fill the log with error lines. Those
//! events are dropped from the log and counted instead (`ClientMistakes`); the next request
//! served logs one warning with the count, at most once a minute (`report_client_mistakes`).
//!
//! Traces: when `telemetry.otlp_endpoint` is set, every span also goes to an OTLP collector
//! (HTTP, protobuf) through `tracing-opentelemetry` ([`otlp_layer`]). The SDK batches spans on
//! its own thread and sends them with a blocking client built by `crate::outbound`, so the
//! collector is an outbound target like any other (a non-public address must be allowed in
//! `outbound.allow_private`). The tracer provider is process-wide, like the subscriber: the
//! first node of a process that installs it exports for every node of that process (one node
//! per process in production; in the test suite only the traces test turns it on).

use crate::config::{LogConfig, LogFormat, TelemetryConfig};
use crate::outbound::OutboundPolicy;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber. `RUST_LOG` overrides `log.level`. Logs go to stderr, so
/// `--json` output on stdout stays machine-readable. One-shot commands (`quiet`) log only
/// warnings unless `RUST_LOG` says otherwise.
pub fn init(config: &LogConfig, quiet: bool, otlp: Option<OtlpLayer>) {
    let level = if quiet { "warn" } else { config.level.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otlp);
    let _ = match config.format {
        LogFormat::Human => registry.with(fmt.with_filter(ClientMistakes)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt.json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(ClientMistakes),
            )
            .try_init(),
    };
}

/// The OpenTelemetry layer over the process's subscriber.
pub type OtlpLayer = tracing_opentelemetry::OpenTelemetryLayer<
    tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>,
    SdkTracer,
>;

/// The running exporter: [`Traces::shutdown`] sends the spans still batched.
#[derive(Debug, Clone)]
pub struct Traces(SdkTracerProvider);

impl Traces {
    /// Sends the spans batched so far and waits for the collector's answer (blocking).
    pub fn flush(&self) {
        if let Err(e) = self.0.force_flush() {
            tracing::warn!(error = %e, "trace export failed");
        }
    }

    /// Flushes the batch and stops the exporter (blocks up to the exporter's timeout: call it
    /// once, when the server has stopped).
    pub fn shutdown(&self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "trace export did not shut down cleanly");
        }
    }
}

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The OTLP exporter and the layer that feeds it, when `telemetry.otlp_endpoint` is set. A
/// collector at an IP literal the outbound policy refuses is a configuration error (a name is
/// checked by the outbound resolver at each connection).
pub fn otlp_layer<S>(
    config: &TelemetryConfig,
    policy: &OutboundPolicy,
) -> anyhow::Result<
    Option<(
        tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>,
        Traces,
    )>,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let Some(endpoint) = config.endpoint() else {
        return Ok(None);
    };
    crate::outbound::check_literal(policy, endpoint).map_err(|e| {
        anyhow::anyhow!("telemetry.otlp_endpoint: {e} (see outbound.allow_private)")
    })?;
    // The blocking client owns a runtime thread: built (and later dropped) off the async
    // runtime, here on a scoped thread.
    let client = std::thread::scope(|s| {
        s.spawn(|| crate::outbound::blocking_client(policy.clone(), EXPORT_TIMEOUT))
            .join()
            .map_err(|_| anyhow::anyhow!("the OTLP client thread panicked"))
    })??;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("portcullis");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Ok(Some((layer, Traces(provider))))
}

/// The W3C trace context of the current span, as the `traceparent` header an outbound call
/// carries (none when no span is exported).
pub fn traceparent() -> Option<(&'static str, String)> {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    let mut fields = std::collections::HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new().inject_context(&cx, &mut fields);
    fields
        .remove("traceparent")
        .map(|value| ("traceparent", value))
}

/// Continues the trace a trusted proxy names in `traceparent` (and `tracestate`); the caller
/// checked the peer. `span` becomes a child of the remote span.
pub fn continue_remote_trace(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut fields = std::collections::HashMap::new();
    fields.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        fields.insert("tracestate".to_owned(), state.to_owned());
    }
    let cx = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&fields);
    // A span not exported (no OTLP layer) has no context to set: nothing to do.
    let _ = span.set_parent(cx);
}

/// Malformed requests and broken connections the HTTP layer refused since the process started.
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// How many of them the last warning accounted for, and when it was logged (Unix seconds).
static REPORTED: AtomicU64 = AtomicU64::new(0);
static REPORTED_AT: AtomicI64 = AtomicI64::new(0);
/// At most one warning about client mistakes this often.
const REPORT_EVERY_SECS: i64 = 60;

/// Events of the HTTP layer that report a client's mistake, by target and message prefix.
/// actix-http logs a connection's end as `stream error: {DispatchError}` whatever the cause;
/// only the causes a client brings about are listed (a failing response body, a service error
/// and the like still log at ERROR).
const CLIENT_MISTAKES: [(&str, &str); 5] = [
    (
        "actix_http::h1::dispatcher",
        "stream error: request parse error",
    ),
    (
        "actix_http::h1::dispatcher",
        "stream error: request did not complete within the specified timeout",
    ),
    ("actix_http::h1::dispatcher", "stream error: I/O error"),
    (
        "actix_http::h1::dispatcher",
        "stream error: connection shutdown timeout",
    ),
    (
        "actix_http::h1::decoder",
        "MAX_BUFFER_SIZE unprocessed data reached",
    ),
];

/// Drops the HTTP layer's client-mistake events from the log and counts them.
struct ClientMistakes;

impl<S> Filter<S> for ClientMistakes {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        if is_client_mistake(event) {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

fn is_client_mistake(event: &Event<'_>) -> bool {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || !meta.target().starts_with("actix_http::") {
        return false;
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    CLIENT_MISTAKES
        .iter()
        .any(|(target, prefix)| meta.target() == *target && message.0.starts_with(prefix))
}

/// The `message` field of an event.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Logs one warning with the number of client mistakes refused since the last one, if there
/// were any and the last warning is a minute old (the first comes at once). Called for each
/// request the app serves, outside its span; cheap when there is nothing to report.
pub fn report_client_mistakes() {
    let refused = REFUSED.load(Ordering::Relaxed);
    let reported = REPORTED.load(Ordering::Relaxed);
    if refused <= reported {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let at = REPORTED_AT.load(Ordering::Relaxed);
    if at != 0 && now - at < REPORT_EVERY_SECS {
        return;
    }
    // One reporter per window.
    if REPORTED_AT
        .compare_exchange(at, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let reported = REPORTED.swap(refused, Ordering::AcqRel);
    tracing::warn!(
        refused = refused.saturating_sub(reported),
        total = refused,
        "malformed requests refused"
    );
}
