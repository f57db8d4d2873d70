//! Lease fencing against a real Postgres: a worker that cannot keep its
//! lease stops the job's work before another may take it, worker ids never
//! repeat, and a write fenced by a lease that moved on is refused.

use std::sync::Arc;
use std::time::Duration;

use hubpulse_jobs::{
    Job, JobError, JobRun, Outcome, Registry, WorkerPool, WorkerSettings, enqueue,
};
use hubpulse_store::queue::{self};
use hubpulse_store::{Store, StoreError};
use hubpulse_testkit::TestDb;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

struct Ctx {
    store: Store,
}

/// Writes a row every 50 ms for `secs` seconds: the job's work, made
/// visible.
#[derive(Serialize, Deserialize)]
struct Ticker {
    n: i64,
    secs: u64,
}

impl Job for Ticker {
    const KIND: &'static str = "ticker";
    type Context = Ctx;
    type Output = serde_json::Value;

    async fn run(&self, ctx: &Ctx, _run: &JobRun) -> Result<Outcome, JobError> {
        let until = tokio::time::Instant::now() + Duration::from_secs(self.secs);
        while tokio::time::Instant::now() < until {
            ctx.store
                .conn()
                .await?
                .execute("INSERT INTO ticks (n) VALUES ($1)", &[&self.n])
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Outcome::Done(serde_json::json!({})))
    }
}

async fn setup() -> (TestDb, Store) {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .conn()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE ticks (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL)")
        .await
        .unwrap();
    (db, store)
}

fn pool(store: &Store, count: usize, name: &str) -> WorkerPool<Ctx> {
    WorkerPool::new(
        store.clone(),
        Registry::new().register::<Ticker>(),
        Arc::new(Ctx {
            store: store.clone(),
        }),
        WorkerSettings {
            count,
            lease_secs: 1,
            poll_interval_ms: 20,
            backoff_base_ms: 10,
            backoff_cap_secs: 1,
            shutdown_grace_secs: 1,
        },
        name,
    )
}

async fn count(store: &Store, sql: &str) -> i64 {
    store
        .conn()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

async fn wait_for(store: &Store, what: &str, sql: &str, at_least: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = count(store, sql).await;
        if n >= at_least {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_worker_that_cannot_renew_its_lease_stops_the_work_before_the_lease_lapses() {
    let (db, store) = setup().await;
    enqueue(&store.conn().await.unwrap(), &Ticker { n: 1, secs: 5 })
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let handle = pool(&store, 1, "w").start(shutdown.clone());
    wait_for(&store, "ticking", "SELECT count(*) FROM ticks", 3).await;

    // Renewals now hang (as on an exhausted pool or a lock): the job's own
    // writes, elsewhere, still go through.
    let blocker = db.client().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    // The lease (1 s) lapses by then: the work must have stopped.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let before = count(&store, "SELECT count(*) FROM ticks").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = count(&store, "SELECT count(*) FROM ticks").await;
    blocker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        before, after,
        "the handler kept writing after its lease could no longer be renewed"
    );
    shutdown.cancel();
    handle.abort();
}

#[tokio::test]
async fn two_copies_sharing_a_replica_name_and_pid_never_share_a_lease_owner() {
    let (_db, store) = setup().await;
    for n in 1..=2 {
        enqueue(&store.conn().await.unwrap(), &Ticker { n, secs: 30 })
            .await
            .unwrap();
    }
    // One process, so one pid: what compose `--scale` gives every copy.
    let shutdown = CancellationToken::new();
    let a = pool(&store, 1, "api").start(shutdown.clone());
    let b = pool(&store, 1, "api").start(shutdown.clone());
    wait_for(
        &store,
        "both running",
        "SELECT count(*) FROM jobs WHERE status = 'running'",
        2,
    )
    .await;
    assert_eq!(
        count(
            &store,
            "SELECT count(DISTINCT lease_owner) FROM jobs WHERE status = 'running'"
        )
        .await,
        2,
        "two workers answer to one lease owner"
    );
    shutdown.cancel();
    a.abort();
    b.abort();
}

#[tokio::test]
async fn a_write_fenced_by_a_lease_that_moved_on_is_refused() {
    let (_db, store) = setup().await;
    let id = enqueue(&store.conn().await.unwrap(), &Ticker { n: 1, secs: 0 })
        .await
        .unwrap()
        .id();
    let mut conn = store.conn().await.unwrap();
    queue::claim(&*conn, "old", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    queue::claim(&*conn, "new", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let tx = conn.transaction().await.unwrap();
    assert!(matches!(
        queue::hold_lease(&tx, id, "old").await,
        Err(StoreError::LeaseLost(_))
    ));
    drop(tx);
    let tx = conn.transaction().await.unwrap();
    queue::hold_lease(&tx, id, "new").await.unwrap();
    tx.commit().await.unwrap();
}
