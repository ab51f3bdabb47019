//! Structured logs through `tracing`: human-readable or JSON, one line per event, each carrying
//! the request id of the request it belongs to (a span opened by the HTTP layer).
//!
//! Client mistakes are not server errors: the HTTP layer (actix-http) logs every request it
//! cannot parse (a head too large, bytes that are not a header, a bad request line) and every
//! connection a client breaks at ERROR, so any client could fill the log with error lines. Those
//! events are dropped from the log and counted instead (`ClientMistakes`); the next request
//! served logs one warning with the count, at most once a minute (`report_client_mistakes`).

use crate::config::{LogConfig, LogFormat};
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
pub fn init(config: &LogConfig, quiet: bool) {
    let level = if quiet { "warn" } else { config.level.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
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
