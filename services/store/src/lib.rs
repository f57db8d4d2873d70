#![doc = include_str!("../README.md")]

pub mod crawl;
mod db;
pub mod developers;
mod error;
pub mod gist_outbox;
pub mod gists;
pub mod graph_lists;
pub mod graph_stats;
pub mod job_feed;
pub mod orgs;
pub mod pages;
pub mod queue;
pub mod read_model;
pub mod repositories;
pub mod sealed;
mod settings;
pub mod topics;
pub mod user_repos;
pub mod web_users;

use std::time::Duration;

use bb8::Pool;
use bb8_postgres::PostgresConnectionManager;
use secrecy::ExposeSecret;
use tokio_postgres::NoTls;

pub use db::Db;
pub use error::StoreError;
pub use settings::DatabaseSettings;
/// Re-exported so callers can name the transaction they pass around.
pub use tokio_postgres::Transaction;

mod embedded {
    refinery::embed_migrations!("../../db/migrations");
}

pub type PgPool = Pool<PostgresConnectionManager<NoTls>>;
pub type PgConnection<'a> = bb8::PooledConnection<'a, PostgresConnectionManager<NoTls>>;

/// A pool on `url` with the settings' sizes and timeouts, and its config.
fn pool(
    settings: &DatabaseSettings,
    url: &str,
    key: &str,
) -> Result<(PgPool, tokio_postgres::Config), StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| StoreError::Config(format!("{key} is not a valid postgres:// URL")))?;
    config.connect_timeout(Duration::from_millis(settings.connect_timeout_ms));
    config.options(format!(
        "-c statement_timeout={}",
        settings.statement_timeout_ms
    ));
    config.application_name("hubpulse");
    let manager = PostgresConnectionManager::new(config.clone(), NoTls);
    let pool = Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_on_check_out(false)
        .build_unchecked(manager);
    Ok((pool, config))
}

fn pool_for_reads(settings: &DatabaseSettings, url: &str) -> Result<PgPool, StoreError> {
    pool(settings, url, "database.read_url").map(|(pool, _)| pool)
}

/// Any two processes that migrate take this lock first (an arbitrary,
/// fixed number: "hubpulse" in ASCII).
const MIGRATION_LOCK: i64 = 0x6875_6270_756c_7365;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// PostgreSQL behind a pool that fills lazily: the service starts, and says
/// it is not ready, while Postgres is down, and recovers by itself.
///
/// The queries live in one module per aggregate (`repositories`, `topics`,
/// `queue`, `read_model`, `crawl`, `pages`), each taking any [`Db`]: a connection
/// from [`Store::conn`], or a transaction opened on one:
///
/// ```ignore
/// let mut conn = store.conn().await?;
/// let tx = conn.transaction().await?;
/// repositories::upsert(&tx, &repos).await?;
/// queue::enqueue(&tx, &job).await?;
/// tx.commit().await?; // dropped without commit: rolled back, nothing queued
/// ```
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// The read replica's pool, when `database.read_url` is set.
    reads: Option<PgPool>,
    /// Kept for the connections that live outside the pool (LISTEN).
    pub(crate) config: tokio_postgres::Config,
}

impl Store {
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let (pool, config) = pool(settings, settings.url.expose_secret(), "database.url")?;
        let reads = match settings.read_url() {
            Some(url) => Some(pool_for_reads(settings, url)?),
            None => None,
        };
        Ok(Self {
            pool,
            reads,
            config,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A pooled connection: pass `&conn` to the store's functions, or open a
    /// transaction on it with `conn.transaction()`.
    pub async fn conn(&self) -> Result<PgConnection<'_>, StoreError> {
        self.pool.get().await.map_err(StoreError::from)
    }

    /// A connection for a list or view read: from the read replica when
    /// one is configured, else from the primary. Never for the queue or a
    /// write (a replica refuses writes), nor for a read that must see a
    /// write just made: a replica may lag the primary by a moment. A
    /// replica that cannot give a connection sends the read to the primary,
    /// so a lost replica makes reads slower, not failed.
    pub async fn read_conn(&self) -> Result<PgConnection<'_>, StoreError> {
        let Some(reads) = &self.reads else {
            return self.conn().await;
        };
        match reads.get().await {
            Ok(conn) => Ok(conn),
            Err(err) => {
                tracing::warn!(error = %StoreError::from(err), "the read replica gave no connection; reading from the primary");
                self.conn().await
            }
        }
    }

    /// True when reads go to a replica of their own.
    pub fn has_read_replica(&self) -> bool {
        self.reads.is_some()
    }

    /// Applies pending migrations under a session advisory lock, so replicas
    /// that start together apply them once, one after the other.
    ///
    /// On a connection of its own, never a pooled one: when the caller gives
    /// up (a client hangs up on `/bootstrap_db`, a timeout) this future is
    /// dropped mid-wait, and a pooled session would go back to the pool still
    /// holding the lock, or still queued for it and granted it later, with
    /// nobody left to unlock it. Dropping this connection ends the session,
    /// and Postgres releases or forgets the lock with it.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let (mut client, connection) = self.config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "migration connection closed");
            }
        });
        // Aborts the driver (closing the session) however this ends,
        // cancellation included.
        let _close = AbortOnDrop(driver);
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let outcome = embedded::migrations::runner()
            .set_abort_divergent(true)
            .run_async(&mut client)
            .await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        outcome.map_err(|e| StoreError::Migration(e.to_string()))?;
        unlocked?;
        Ok(())
    }

    /// The newest migration this build knows.
    pub fn latest_migration() -> i32 {
        embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| m.version())
            .max()
            .unwrap_or(0)
    }

    /// Postgres answers and every migration of this build is applied.
    pub async fn readiness(&self) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        // Two statements: a query naming a missing table fails at planning.
        let has_history: bool = conn
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let applied: i32 = if has_history {
            conn.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history",
                &[],
            )
            .await?
            .get(0)
        } else {
            0
        };
        let latest = Self::latest_migration();
        if applied < latest {
            return Err(StoreError::MigrationsPending(format!(
                "applied version {applied}, this build needs {latest}"
            )));
        }
        Ok(())
    }
}
