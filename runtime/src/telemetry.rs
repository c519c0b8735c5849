//! Structured logging: JSON lines, one event per line.

use tracing_subscriber::EnvFilter;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Long-running roles (serve, work): stdout, collected by the platform.
    Stdout,
    /// One-shot commands whose stdout carries data (seed --prices-csv, openapi).
    Stderr,
}

/// Installs the JSON subscriber. `filter` uses tracing's EnvFilter syntax and
/// was validated with the configuration. Calling it twice is harmless.
pub fn init(filter: &str, target: LogTarget) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter);
    let result = match target {
        LogTarget::Stdout => builder.with_writer(std::io::stdout).try_init(),
        LogTarget::Stderr => builder.with_writer(std::io::stderr).try_init(),
    };
    // Already installed (tests building several apps): keep the first one.
    let _ = result;
}
