#![doc = include_str!("../README.md")]

mod budget;
mod chart;
mod settings;
mod view;

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{
    ClientLike, Error as FredError, HashesInterface, KeysInterface, LuaInterface, Pool,
    ReconnectPolicy,
};
use fred::types::Builder;
use hubpulse_domain::{Topic, ViewKind};

pub use budget::RedisBudget;
pub use settings::{RedisSettings, Topology};
pub use view::{Compression, Encoding, View, ViewError};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Not connected, timed out or refused: callers fall back to Postgres.
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    #[error("redis configuration: {0}")]
    Config(String),
    #[error("{0}")]
    View(#[from] ViewError),
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
    /// A single server, a Cluster or the primary behind Sentinels, as
    /// `redis.url` says ([`Topology`]): every key one atomic command or
    /// script touches shares a hash tag, so each stays on one Cluster slot.
    pub fn connect(settings: &RedisSettings) -> Result<Self, CacheError> {
        let config = settings
            .fred_config()
            .map_err(|(key, reason)| CacheError::Config(format!("{key} {reason}")))?;
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

    /// One key per view; the braces are a Redis Cluster hash tag, so a
    /// topic's views live on one slot (and `delete_views`, one `DEL` of
    /// several keys, is legal on a Cluster).
    pub fn view_key(&self, topic: &Topic, kind: ViewKind) -> String {
        format!("{}:view:{{{}}}:{}", self.key_prefix, topic, kind.as_str())
    }

    /// Replaces a view in one `HSET`: readers see the old one or the new one.
    pub async fn put_view(
        &self,
        topic: &Topic,
        kind: ViewKind,
        view: &View,
    ) -> Result<(), CacheError> {
        let fields: Vec<(&str, Bytes)> = vec![
            ("etag", view.etag.clone()),
            ("plain", view.plain.clone()),
            ("gzip", view.gzip.clone()),
            ("br", view.brotli.clone()),
            ("ends", view.ends_to_bytes()),
        ];
        let () = self
            .pool
            .next()
            .hset(self.view_key(topic, kind), fields)
            .await?;
        Ok(())
    }

    /// Stores a view only where Redis holds none, in one atomic script: a
    /// reader filling a gap never overwrites a newer view that a crawl
    /// published while the reader was building its own. True when stored.
    pub async fn put_view_if_absent(
        &self,
        topic: &Topic,
        kind: ViewKind,
        view: &View,
    ) -> Result<bool, CacheError> {
        const PUT_IF_ABSENT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end \
            redis.call('HSET', KEYS[1], 'etag', ARGV[1], 'plain', ARGV[2], 'gzip', ARGV[3], 'br', ARGV[4], 'ends', ARGV[5]) \
            return 1";
        let args: Vec<Bytes> = vec![
            view.etag.clone(),
            view.plain.clone(),
            view.gzip.clone(),
            view.brotli.clone(),
            view.ends_to_bytes(),
        ];
        let stored: i64 = self
            .pool
            .next()
            .eval(PUT_IF_ABSENT, self.view_key(topic, kind), args)
            .await?;
        Ok(stored == 1)
    }

    /// `Ok(None)` when Redis holds no such view; `Err` when Redis cannot be asked.
    pub async fn get_view(
        &self,
        topic: &Topic,
        kind: ViewKind,
    ) -> Result<Option<View>, CacheError> {
        if !self.is_connected() {
            return Err(CacheError::Unavailable("not connected".into()));
        }
        let fields: Vec<Option<Bytes>> = self
            .pool
            .next()
            .hmget(
                self.view_key(topic, kind),
                vec!["etag", "plain", "gzip", "br", "ends"],
            )
            .await?;
        match <[Option<Bytes>; 5]>::try_from(fields) {
            Ok([Some(etag), Some(plain), Some(gzip), Some(br), Some(ends)]) => {
                Ok(Some(View::from_stored(etag, plain, gzip, br, &ends)?))
            }
            _ => Ok(None),
        }
    }

    /// Drops a topic's views (an untracked topic, or a test of the cold path).
    pub async fn delete_views(&self, topic: &Topic) -> Result<(), CacheError> {
        let keys: Vec<String> = ViewKind::ALL
            .iter()
            .map(|k| self.view_key(topic, *k))
            .collect();
        let _: i64 = self.pool.next().del(keys).await?;
        Ok(())
    }

    /// True on a Redis Cluster: a scan must then visit every primary.
    pub fn is_clustered(&self) -> bool {
        self.pool.next().is_clustered()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
    }
}
