//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info,kube=warn`), as text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,kube=warn";

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured only when stderr is a terminal (a file or a log collector
    /// gets no ANSI codes).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Failed to install the subscriber.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// The filter from `RUST_LOG`, or [`DEFAULT_FILTER`].
pub fn filter() -> Result<EnvFilter, TelemetryError> {
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => Ok(EnvFilter::try_new(directives)?),
        _ => Ok(EnvFilter::try_new(DEFAULT_FILTER)?),
    }
}

/// Installs the global subscriber. Logs go to stderr, so stdout stays free for command output.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter()?)
        .with_writer(std::io::stderr)
        .with_ansi(format == LogFormat::Text && std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_parses() {
        assert!(EnvFilter::try_new(DEFAULT_FILTER).is_ok());
    }
}
