//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info,kube=warn`), as text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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

/// Whether log lines carry ANSI colour: only text, only on a terminal, and never when
/// `NO_COLOR` is set (no-color.org). Files and log collectors get plain lines.
pub fn use_ansi(format: LogFormat, stderr_is_terminal: bool, no_color: bool) -> bool {
    format == LogFormat::Text && stderr_is_terminal && !no_color
}

/// The subscriber for `format`, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    ansi: bool,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Installs the global subscriber. Logs go to stderr, so stdout stays free for command output.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = use_ansi(format, std::io::stderr().is_terminal(), no_color);
    tracing::subscriber::set_global_default(subscriber(format, ansi, filter()?, std::io::stderr))
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_parses() {
        assert!(EnvFilter::try_new(DEFAULT_FILTER).is_ok());
    }

    /// Everything the subscriber writes, for inspection.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    fn log_line(format: LogFormat, ansi: bool) -> String {
        let captured = Captured::default();
        let filter = EnvFilter::try_new("info").unwrap();
        let subscriber = subscriber(format, ansi, filter, captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(analysis = "shop/a", "reconcile failed");
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn colour_only_for_text_on_a_terminal_without_no_color() {
        assert!(use_ansi(LogFormat::Text, true, false));
        assert!(!use_ansi(LogFormat::Text, false, false));
        assert!(!use_ansi(LogFormat::Text, true, true));
        assert!(!use_ansi(LogFormat::Json, true, false));
    }

    #[test]
    fn lines_for_files_carry_no_ansi_codes() {
        let plain = log_line(LogFormat::Text, use_ansi(LogFormat::Text, false, false));
        assert!(plain.contains("reconcile failed"), "{plain}");
        assert!(plain.contains("analysis=\"shop/a\""), "{plain}");
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        // The same line on a terminal is coloured, so the check above can fail.
        let coloured = log_line(LogFormat::Text, use_ansi(LogFormat::Text, true, false));
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    }

    #[test]
    fn json_lines_are_objects_with_flattened_fields() {
        let line = log_line(LogFormat::Json, use_ansi(LogFormat::Json, true, false));
        assert!(!line.contains('\u{1b}'), "{line:?}");
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line.trim()).unwrap();
        assert_eq!(object["message"], "reconcile failed");
        assert_eq!(object["analysis"], "shop/a");
        assert_eq!(object["level"], "WARN");
    }
}
