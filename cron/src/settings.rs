use std::path::{Path, PathBuf};

use hubpulse_runtime::{LogSettings, SettingsError, Validate};
use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub cron: CronSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CronSettings {
    pub base_url: String,
    pub schedule_file: PathBuf,
    pub request_timeout_ms: u64,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub token: SecretString,
}

impl Settings {
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let keys = hubpulse_runtime::EnvKeys {
            strings: &["admin.token", "cron.base_url"],
            ..Default::default()
        };
        hubpulse_runtime::load_settings_from(DEFAULTS, file, &keys, None)
    }
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| SettingsError::Invalid {
            key,
            reason: reason.into(),
        };
        let cron = &self.cron;
        if !(cron.base_url.starts_with("http://") || cron.base_url.starts_with("https://")) {
            return Err(invalid(
                "cron.base_url",
                "must be an http:// or https:// URL",
            ));
        }
        if cron.request_timeout_ms == 0 {
            return Err(invalid("cron.request_timeout_ms", "must be above 0"));
        }
        if cron.retry_base_ms == 0 || cron.retry_cap_ms < cron.retry_base_ms {
            return Err(invalid(
                "cron.retry_cap_ms",
                "must be at least cron.retry_base_ms, which must be above 0",
            ));
        }
        if cron.max_attempts == 0 {
            return Err(invalid("cron.max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}
