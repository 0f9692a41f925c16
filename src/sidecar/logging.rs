//! The process's logs, one subscriber for every role: JSON lines or text on standard
//! output, from `[log]`.

use super::config::{Config, LogFormat};

/// Sets up logs on standard output from `[log]`: JSON lines or text, filtered by
/// `log.level` (or `RUST_LOG`, which wins so that an operator can turn up a level without
/// editing the file). Text is coloured only when standard output is a terminal and
/// `NO_COLOR` is unset or empty (<https://no-color.org>), so a pipe or a log file never
/// receives escape codes.
pub fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| tracing_subscriber::EnvFilter::try_new(text).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let colour = config.log.format == LogFormat::Text
        && use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
            std::env::var_os("NO_COLOR"),
        );
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(colour)
        .with_env_filter(filter)
        .with_target(true);
    // A second initialisation (tests) is not an error worth failing for.
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether text logs are coloured: only on a terminal, and not when `NO_COLOR` is set to
/// anything but the empty string.
fn use_colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some("".into())));
    }
}
