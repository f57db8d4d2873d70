use std::path::{Path, PathBuf};

use hubpulse_cache::RedisSettings;
use hubpulse_github::GithubSettings;
use hubpulse_jobs::{OrgSettings, WorkerSettings};
use hubpulse_runtime::{LogSettings, SettingsError, Validate};
use hubpulse_store::DatabaseSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("defaults.toml");

/// Everything hubpulse-api reads at start-up, loaded once and passed down.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub workers: WorkerSettings,
    pub github: GithubSettings,
    pub admin: AdminSettings,
    pub views: ViewSettings,
    pub topics: TopicSettings,
    pub orgs: OrgSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewSettings {
    pub process_ttl_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopicSettings {
    /// Checked at load: every entry is a valid topic name.
    pub tracked: Vec<hubpulse_domain::Topic>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub replica: String,
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    pub shutdown_grace_secs: u64,
    /// Also listen on this Unix socket: a proxy on the same host reaches the
    /// replica without two trips through the TCP stack.
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    /// Tokio worker threads; 0 means one per core. Replicas sharing a small
    /// host do better with one each than with threads that fight for cores.
    pub worker_threads: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    pub token: SecretString,
}

impl AdminSettings {
    pub fn token(&self) -> Option<&str> {
        let token = self.token.expose_secret();
        (!token.is_empty()).then_some(token)
    }
}

impl Settings {
    /// Built-in defaults, then `file` if given, then `HUBPULSE__*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        hubpulse_runtime::load_settings_with_lists(
            DEFAULTS,
            file,
            &["topics.tracked", "orgs.tracked"],
        )
    }
}

fn invalid((key, reason): (&'static str, String)) -> SettingsError {
    SettingsError::Invalid { key, reason }
}

fn positive(key: &'static str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(invalid((key, "must be above 0".into())));
    }
    Ok(())
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        let server = &self.server;
        if server.host.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid((
                "server.host",
                "must be an IP address such as 127.0.0.1".into(),
            )));
        }
        let replica_ok = !server.replica.is_empty()
            && server.replica.len() <= 64
            && server
                .replica
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !replica_ok {
            return Err(invalid((
                "server.replica",
                "must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
            )));
        }
        positive("server.request_timeout_ms", server.request_timeout_ms)?;
        positive("server.body_limit_bytes", server.body_limit_bytes as u64)?;
        positive("server.max_connections", server.max_connections as u64)?;
        positive(
            "server.header_read_timeout_ms",
            server.header_read_timeout_ms,
        )?;
        self.database.validate()?;
        self.redis.validate().map_err(invalid)?;
        self.workers.validate()?;
        self.orgs.validate()?;
        self.github.validate().map_err(invalid)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_with(toml: &str) -> Result<Settings, SettingsError> {
        let mut file = tempfile_in_target();
        file.1.write_all(toml.as_bytes()).unwrap();
        Settings::load(Some(&file.0))
    }

    fn tempfile_in_target() -> (std::path::PathBuf, std::fs::File) {
        let dir = std::env::temp_dir().join(format!("hubpulse-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }

    #[test]
    fn defaults_load_and_validate() {
        let settings = load_with("").unwrap();
        assert_eq!(settings.server.port, 3000);
        assert!(settings.admin.token().is_none());
    }

    #[test]
    fn wrong_values_name_their_key() {
        for (toml, key) in [
            ("[server]\nport = 99999", "server.port"),
            ("[server]\nhost = \"not an ip\"", "server.host"),
            ("[server]\nreplica = \"a b\"", "server.replica"),
            ("[redis]\nurl = \"http://x\"", "redis.url"),
            ("[github]\nbase_url = \"ftp://x\"", "github.base_url"),
            (
                "[github]\napi_version = \"2025-01-01\"",
                "github.api_version",
            ),
            (
                "[github]\noauth_base_url = \"github.com\"",
                "github.oauth_base_url",
            ),
            ("[log]\nformat = \"xml\"", "log.format"),
        ] {
            let err = load_with(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml:?} gave {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let settings = load_with(
            "[admin]\ntoken = \"admin-s3cret\"\n[github]\ntoken = \"ghp_s3cret\"\n[database]\nurl = \"postgres://u:pw-s3cret@127.0.0.1:5432/db\"",
        )
        .unwrap();
        let debug = format!("{settings:?}");
        for secret in ["admin-s3cret", "ghp_s3cret", "pw-s3cret"] {
            assert!(!debug.contains(secret), "{secret} leaked into Debug");
        }
    }
}
