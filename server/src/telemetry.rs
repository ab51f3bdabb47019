//! Structured logs through `tracing`: human-readable or JSON, one line per event, each carrying
//! the request id of the request it belongs to (a span opened by the HTTP layer).

use crate::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides `log.level`. Logs go to stderr, so
/// `--json` output on stdout stays machine-readable. One-shot commands (`quiet`) log only
/// warnings unless `RUST_LOG` says otherwise.
pub fn init(config: &LogConfig, quiet: bool) {
    let level = if quiet { "warn" } else { config.level.as_str() };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
