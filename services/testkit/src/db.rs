use hubpulse_runtime::backoff::{Backoff, Retryable};
use hubpulse_store::{DatabaseSettings, Store};
use secrecy::SecretString;
use tokio_postgres::NoTls;

use crate::servers;

async fn admin(port: u16, dbname: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname={dbname}"),
        NoTls,
    )
    .await
    .unwrap_or_else(|e| panic!("connect to the test postgres on {port}: {e}"));
    tokio::spawn(conn);
    client
}

pub(crate) fn settings_for(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url: SecretString::from(url),
        read_url: None,
        pool_size: 8,
        worker_pool_size: 4,
        // Roomy: a fresh machine compiling and running two hundred tests on
        // two cores once took over 3 s to hand a new database its first
        // connection. Tests of an outage set their own short bounds.
        connect_timeout_ms: 5_000,
        acquire_timeout_ms: 10_000,
        statement_timeout_ms: 30_000,
    }
}

/// Creates and migrates the template once (the caller holds the start lock).
/// It is built under a scratch name and renamed when complete, so a process
/// that dies half-way never leaves a half-migrated template behind.
pub(crate) async fn ensure_template(port: u16, template: &str) {
    let client = admin(port, "postgres").await;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .expect("look up the template")
        .is_some();
    if exists {
        return;
    }
    let scratch = format!("build_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {scratch}"))
        .await
        .expect("create the template database");
    let store = Store::connect(&settings_for(format!(
        "postgres://postgres@127.0.0.1:{port}/{scratch}"
    )))
    .expect("template store");
    store.migrate().await.expect("migrate the template");
    drop(store);
    // Renaming and cloning both need the database free of sessions.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {scratch} WITH ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{scratch}';"
        ))
        .await
        .expect("close the template");
    // A terminated backend can take a moment to go away.
    let rename = format!("ALTER DATABASE {scratch} RENAME TO {template}");
    (|| client.batch_execute(&rename))
        .retry(Backoff::POLL.attempts(40))
        .when(is_busy)
        .await
        .unwrap_or_else(|err| panic!("publish the template: {err}"));
}

fn is_busy(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE)
}

/// A fresh database for one test, cloned from the migrated template.
pub struct TestDb {
    name: String,
    url: String,
    port: u16,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let shared = servers::shared().await;
        Self::create(shared.pg_port, &format!("TEMPLATE {}", shared.template)).await
    }

    /// An empty database without the schema, for migration tests.
    pub async fn new_unmigrated() -> TestDb {
        let shared = servers::shared().await;
        Self::create(shared.pg_port, "TEMPLATE template0").await
    }

    async fn create(port: u16, template_clause: &str) -> TestDb {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let client = admin(port, "postgres").await;
        // Two clones of one template at the same instant can collide.
        let create = format!("CREATE DATABASE {name} {template_clause}");
        (|| client.batch_execute(&create))
            .retry(Backoff::POLL.attempts(20))
            .when(is_busy)
            .await
            .unwrap_or_else(|err| panic!("create test database: {err}"));
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:{port}/{name}"),
            port,
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn settings(&self) -> DatabaseSettings {
        settings_for(self.url.clone())
    }

    /// A store on this database (the pool connects lazily).
    pub async fn store(&self) -> Store {
        Store::connect(&self.settings()).expect("test store")
    }

    /// A plain client on this database, for assertions in SQL.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestDb {
    /// Best effort, without waiting for it: a detached `psql` drops the
    /// database (forcing out the test's own connections). Whatever it
    /// misses goes when the reaper stops the server.
    fn drop(&mut self) {
        let _ = std::process::Command::new("setsid")
            .arg("-f")
            .arg(servers::pg_bin("psql"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"])
            .args(["-p", &self.port.to_string()])
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The shared Redis with a key prefix of the test's own.
pub struct TestRedis {
    url: String,
    key_prefix: String,
}

impl TestRedis {
    pub async fn new() -> TestRedis {
        let shared = servers::shared().await;
        TestRedis {
            url: format!("redis://127.0.0.1:{}", shared.redis_port),
            key_prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// A cache client on this Redis and key prefix, once Redis answers.
    pub async fn cache(&self) -> hubpulse_cache::Cache {
        let cache = hubpulse_cache::Cache::connect(&hubpulse_cache::RedisSettings {
            url: SecretString::from(self.url.clone()),
            key_prefix: self.key_prefix.clone(),
            pool_size: 1,
            connect_timeout_ms: 1_000,
            command_timeout_ms: 2_000,
        })
        .expect("a cache client for the test Redis");
        crate::eventually(
            "the test Redis answering",
            std::time::Duration::from_secs(10),
            || {
                let cache = cache.clone();
                async move { cache.ping().await.map_err(|e| e.to_string()) }
            },
        )
        .await;
        cache
    }
}
