use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; `RUST_LOG` wins over the configured level when set.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match settings.format {
        LogFormat::Json => builder
            .event_format(ClientErrorsAsWarnings(Format::default().json()))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .try_init(),
        LogFormat::Text => builder
            .event_format(ClientErrorsAsWarnings(Format::default()))
            .try_init(),
    };
    // Already installed (tests build several apps in one process): keep the first.
    let _ = result;
}

/// The longest line a client's broken request may write (the rest of what it sent is cut).
const CLIENT_ERROR_LINE: usize = 300;

/// Formats every event as the inner format does, except a client's malformed or broken
/// connection (a URI too long, a bad header, a reset), which actix-http logs at ERROR: that is
/// written as WARN and cut short, so no client can fill the error log or write its input into it.
struct ClientErrorsAsWarnings<F>(F);

impl<S, N, F> FormatEvent<S, N> for ClientErrorsAsWarnings<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || !metadata.target().starts_with("actix_http::h1") {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        if !line.contains("stream error: ") {
            return writer.write_str(&line);
        }
        writer.write_str(&demoted(&line))
    }
}

/// `line` at WARN: a JSON line's level field (the line stays whole JSON; actix-http's messages
/// carry no input), or a text line's level column, cut at [`CLIENT_ERROR_LINE`] characters.
fn demoted(line: &str) -> String {
    if line.contains("\"level\":\"ERROR\"") {
        return line.replacen("\"level\":\"ERROR\"", "\"level\":\"WARN\"", 1);
    }
    let line = line.replacen("ERROR", " WARN", 1);
    let line = line.trim_end_matches('\n');
    match line.char_indices().nth(CLIENT_ERROR_LINE) {
        Some((cut, _)) => format!("{}…\n", &line[..cut]),
        None => format!("{line}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::demoted;

    #[test]
    fn a_client_error_is_a_short_warning() {
        let text = "2026-12-07T09:00:00Z ERROR actix_http::h1::dispatcher: stream error: x\n";
        assert_eq!(
            demoted(text),
            "2026-12-07T09:00:00Z  WARN actix_http::h1::dispatcher: stream error: x\n"
        );
        let json = r#"{"level":"ERROR","fields":{"message":"stream error: x"}}"#;
        assert!(demoted(json).starts_with(r#"{"level":"WARN""#));
        let long = format!("ERROR stream error: {}\n", "a".repeat(10_000));
        assert_eq!(demoted(&long).chars().count(), super::CLIENT_ERROR_LINE + 2);
    }
}
