#![doc = include_str!("../README.md")]

pub mod runner;
pub mod schedule;
pub mod settings;

pub use runner::{Outcome, Runner, RunnerError};
pub use schedule::{Call, Method, ScheduleError};
pub use settings::Settings;

use std::path::Path;

/// Settings and schedule, loaded as the binary loads them: the first error
/// is one line naming what is wrong.
pub fn load(config: Option<&Path>) -> Result<(Settings, Vec<Call>), String> {
    let settings = Settings::load(config).map_err(|e| e.to_string())?;
    let calls = schedule::load(&settings.cron.schedule_file).map_err(|e| e.to_string())?;
    Ok((settings, calls))
}
