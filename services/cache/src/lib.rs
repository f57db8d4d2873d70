#![doc = include_str!("../README.md")]

mod settings;

use std::time::Duration;

use fred::prelude::{ClientLike, Config, Error as FredError, Pool, ReconnectPolicy};
use fred::types::Builder;
use secrecy::ExposeSecret;

pub use settings::RedisSettings;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Not connected, timed out or refused: callers fall back to Postgres.
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    #[error("redis configuration: {0}")]
    Config(String),
}

impl From<FredError> for CacheError {
    fn from(err: FredError) -> Self {
        // fred's messages carry no credentials: they name the kind and the command.
        Self::Unavailable(format!("{:?}: {}", err.kind(), err.details()))
    }
}

/// A pool of Redis connections that keeps reconnecting in the background, so
/// the service starts, and keeps answering from Postgres, while Redis is down.
#[derive(Clone)]
pub struct Cache {
    pool: Pool,
    key_prefix: String,
    command_timeout: Duration,
}

impl Cache {
    /// Returns at once; connections are made, and remade after a loss, in the background.
    pub fn connect(settings: &RedisSettings) -> Result<Self, CacheError> {
        let config = Config::from_url(settings.url.expose_secret())
            .map_err(|_| CacheError::Config("redis.url is not a valid redis:// URL".into()))?;
        let command_timeout = Duration::from_millis(settings.command_timeout_ms);
        let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
        let pool = Builder::from_config(config)
            .with_config(|config| config.fail_fast = false)
            .with_connection_config(|conn| {
                conn.connection_timeout = connect_timeout;
                conn.internal_command_timeout = command_timeout;
                conn.max_command_attempts = 1;
                conn.tcp.nodelay = Some(true);
            })
            .with_performance_config(|perf| perf.default_command_timeout = command_timeout)
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
            .build_pool(settings.pool_size)?;
        // Fire and forget: the connect tasks live as long as the pool's clients.
        let _connect_tasks = pool.connect_pool();
        Ok(Self {
            pool,
            key_prefix: settings.key_prefix.clone(),
            command_timeout,
        })
    }

    /// True when at least one pooled connection is up. Readers skip Redis
    /// without waiting when this is false.
    pub fn is_connected(&self) -> bool {
        self.pool.clients().iter().any(|c| c.is_connected())
    }

    /// Round trip to Redis, bounded by the command timeout: the readiness check.
    pub async fn ping(&self) -> Result<(), CacheError> {
        if !self.is_connected() {
            return Err(CacheError::Unavailable("not connected".into()));
        }
        let reply: Result<String, FredError> =
            tokio::time::timeout(self.command_timeout, self.pool.next().ping(None))
                .await
                .map_err(|_| FredError::new(fred::error::ErrorKind::Timeout, "ping timed out"))?;
        reply?;
        Ok(())
    }

    /// Every key this service writes starts with the configured prefix, so
    /// several deployments (or tests) can share one Redis.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{}", self.key_prefix, suffix)
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
    }
}
