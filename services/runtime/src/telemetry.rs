use serde::Deserialize;
use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The `[log]` section every binary shares.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `info,hubpulse_jobs=debug`.
    pub level: String,
}

/// Installs the global subscriber. Span fields (the request id among them)
/// appear on every line logged inside the span, in both formats.
pub fn init_tracing(settings: &LogSettings) -> Result<(), crate::SettingsError> {
    let filter =
        EnvFilter::try_new(&settings.level).map_err(|e| crate::SettingsError::Invalid {
            key: "log.level",
            reason: e.to_string(),
        })?;
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second install (tests that start several apps in one process) is not an error.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(crate::json_fields::JsonSpanFields)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}
