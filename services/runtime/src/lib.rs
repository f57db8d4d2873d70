#![doc = include_str!("../README.md")]

pub mod backoff;
mod json_fields;
mod settings;
mod shutdown;
mod telemetry;

pub use backoff::Backoff;
pub use settings::{
    EnvKeys, SettingsError, Validate, config_path, load_settings, load_settings_from,
    load_settings_with_lists,
};
pub use shutdown::wait_for_signal;
pub use telemetry::{LogFormat, LogSettings, init_tracing};
