use hubpulse_runtime::SettingsError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `[database]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db`; holds the password, hence secret.
    pub url: SecretString,
    /// A read replica's URL (optional): list and view reads go there, never
    /// the queue or a write. Unset (or empty), everything goes to `url`.
    pub read_url: Option<SecretString>,
    pub pool_size: u32,
    /// The job workers' own pool, beside `pool_size`'s: requests, however
    /// many, never take the connections a job and its lease renewals need.
    pub worker_pool_size: u32,
    pub connect_timeout_ms: u64,
    /// How long a request waits for a pooled connection before Postgres counts as down.
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

impl DatabaseSettings {
    /// The replica's URL when one is set: an empty value (an optional
    /// Secret key left blank) counts as unset.
    pub fn read_url(&self) -> Option<&str> {
        self.read_url
            .as_ref()
            .map(|url| url.expose_secret())
            .filter(|url| !url.is_empty())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| SettingsError::Invalid {
            key,
            reason: reason.into(),
        };
        // The URL is never echoed: it carries the password.
        if self
            .url
            .expose_secret()
            .parse::<tokio_postgres::Config>()
            .is_err()
        {
            return Err(invalid("database.url", "is not a valid postgres:// URL"));
        }
        if self
            .read_url()
            .is_some_and(|url| url.parse::<tokio_postgres::Config>().is_err())
        {
            return Err(invalid(
                "database.read_url",
                "is not a valid postgres:// URL",
            ));
        }
        if self.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        if self.worker_pool_size == 0 {
            return Err(invalid("database.worker_pool_size", "must be at least 1"));
        }
        for (key, value) in [
            ("database.connect_timeout_ms", self.connect_timeout_ms),
            ("database.acquire_timeout_ms", self.acquire_timeout_ms),
            ("database.statement_timeout_ms", self.statement_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be above 0"));
            }
        }
        Ok(())
    }
}
