use std::path::{Path, PathBuf};

use hubpulse_cache::RedisSettings;
use hubpulse_github::GithubSettings;
use hubpulse_jobs::{AuthSettings, GistSettings, OrgSettings, WorkerSettings};
use hubpulse_pipedrive::PipedriveSettings;
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
    pub gists: GistSettings,
    pub pipedrive: PipedriveSettings,
    /// Signing in with GitHub and the page at `/`.
    pub auth: AuthSettings,
    pub graph: hubpulse_jobs::DevGraphSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewSettings {
    pub process_ttl_ms: u64,
    pub process_max_bytes: u64,
    /// `?limit=N` answers kept per (view, N, encoding), by bytes.
    pub prefix_max_bytes: u64,
    /// How long a rendered contributors chart is kept in Redis.
    pub chart_ttl_secs: u64,
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
    /// Send cached full-view bodies with sendfile(2) from a memfd copy of
    /// each (src/zerocopy.rs) rather than copying them into the socket.
    pub sendfile: bool,
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
        Self::load_from(file, None)
    }

    /// As `load`, with `environment` standing in for the process's variables.
    pub fn load_from(
        file: Option<&Path>,
        environment: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let keys = hubpulse_runtime::EnvKeys {
            lists: &["topics.tracked", "orgs.tracked"],
            strings: &[
                "admin.token",
                "github.token",
                "database.url",
                "database.read_url",
                "redis.url",
                "pipedrive.api_token",
                "auth.client_id",
                "auth.client_secret",
                "auth.encryption_key",
                "auth.key_id",
                "auth.retired_keys",
            ],
        };
        hubpulse_runtime::load_settings_from(DEFAULTS, file, &keys, environment)
    }
}

/// The admin token .env committed before tokens were generated per stack:
/// anyone who read the repository knows it.
const KNOWN_ADMIN_TOKENS: &[&str] = &["hubpulse-dev-admin-token"];
/// Shorter tokens can be guessed by someone who can reach the replica.
const MIN_ADMIN_TOKEN_BYTES: usize = 32;

impl AdminSettings {
    /// A replica others can reach needs a token nobody else knows; one on
    /// loopback only (a laptop, the tests) may use anything.
    fn check(&self, host: &str) -> Result<(), SettingsError> {
        let loopback = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        // Compose and the container image listen on 0.0.0.0: no token there
        // is a deployment that forgot its own, not a choice.
        let reason = match self.token() {
            None => "is not set",
            Some(t) if KNOWN_ADMIN_TOKENS.contains(&t) => {
                "is the development token committed to the repository"
            }
            Some(t) if t.len() < MIN_ADMIN_TOKEN_BYTES => "is shorter than 32 bytes",
            Some(_) => return Ok(()),
        };
        Err(invalid((
            "admin.token",
            format!(
                "HUBPULSE__ADMIN__TOKEN {reason}, and server.host {host} is not loopback; \
                 set a random one (openssl rand -hex 32)"
            ),
        )))
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
        self.admin.check(&server.host)?;
        self.database.validate()?;
        self.redis.validate().map_err(invalid)?;
        self.workers.validate()?;
        self.orgs.validate()?;
        self.auth.validate()?;
        self.graph.validate()?;
        self.github.validate().map_err(invalid)?;
        self.gists.validate()?;
        self.pipedrive.validate().map_err(invalid)?;
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

    fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(None, Some(env))
    }

    #[test]
    fn a_numeric_token_stays_a_string() {
        let digits = "98765432109876543210987654321098765432109876543210";
        let settings = load_env(&[("HUBPULSE__ADMIN__TOKEN", digits)]).unwrap();
        assert_eq!(settings.admin.token(), Some(digits));
        let short = "0012";
        let settings = load_env(&[("HUBPULSE__ADMIN__TOKEN", short)]).unwrap();
        assert_eq!(settings.admin.token(), Some(short));
    }

    #[test]
    fn a_weak_admin_token_is_refused_off_loopback() {
        let strong = "x".repeat(32);
        for (host, token, ok) in [
            ("0.0.0.0", "hubpulse-dev-admin-token", false),
            ("0.0.0.0", "short-token", false),
            ("0.0.0.0", &"x".repeat(31), false),
            ("10.1.2.3", "hubpulse-dev-admin-token", false),
            ("0.0.0.0", &strong, true),
            ("127.0.0.1", "hubpulse-dev-admin-token", true),
            ("::1", "short", true),
            // Empty off loopback: a deployment that forgot its token.
            ("0.0.0.0", "", false),
            ("127.0.0.1", "", true),
        ] {
            let loaded = load_env(&[
                ("HUBPULSE__SERVER__HOST", host),
                ("HUBPULSE__ADMIN__TOKEN", token),
            ]);
            match (ok, loaded) {
                (true, Ok(_)) => {}
                (false, Err(err)) => {
                    let err = err.to_string();
                    assert!(err.contains("HUBPULSE__ADMIN__TOKEN"), "{err}");
                    assert!(
                        token.is_empty() || !err.contains(token),
                        "the token leaked: {err}"
                    );
                }
                (ok, other) => panic!("{host} {token:?}: expected ok={ok}, got {other:?}"),
            }
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let settings = load_with(
            "[admin]\ntoken = \"admin-s3cret\"\n[pipedrive]\napi_token = \"pd-s3cret\"\n[github]\ntoken = \"ghp_s3cret\"\n[database]\nurl = \"postgres://u:pw-s3cret@127.0.0.1:5432/db\"",
        )
        .unwrap();
        let debug = format!("{settings:?}");
        for secret in ["admin-s3cret", "ghp_s3cret", "pw-s3cret", "pd-s3cret"] {
            assert!(!debug.contains(secret), "{secret} leaked into Debug");
        }
    }
}
