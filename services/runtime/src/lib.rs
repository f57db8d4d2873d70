#![doc = include_str!("../README.md")]

mod settings;
mod shutdown;
mod telemetry;

pub use settings::{load_settings, SettingsError, Validate};
pub use shutdown::wait_for_signal;
pub use telemetry::{init_tracing, LogFormat, LogSettings};
