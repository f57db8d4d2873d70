//! The job queue against a real Postgres: dedup, exactly-once under two
//! worker pools, lease expiry after a worker dies, reschedules, retries,
//! panics and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hubpulse_jobs::{
    Job, JobError, JobRun, Outcome, Registry, WorkerPool, WorkerSettings, enqueue,
};
use hubpulse_store::Store;
use hubpulse_store::queue::{self, JobStatus, NewJob};
use hubpulse_testkit::TestDb;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

fn settings(count: usize) -> WorkerSettings {
    WorkerSettings {
        count,
        lease_secs: 1,
        poll_interval_ms: 20,
        backoff_base_ms: 10,
        backoff_cap_secs: 1,
        shutdown_grace_secs: 1,
    }
}

struct Ctx {
    store: Store,
}

/// Records each run in `runs`; the table's key makes a second run visible.
#[derive(Serialize, Deserialize)]
struct Record {
    n: i64,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail_times: i32,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    key: Option<String>,
}

impl Job for Record {
    const KIND: &'static str = "record";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = Ctx;
    type Output = serde_json::Value;

    fn dedup_key(&self) -> Option<String> {
        self.key.clone()
    }

    async fn run(&self, ctx: &Ctx, run: &JobRun) -> Result<Outcome, JobError> {
        run.set_progress(1, Some(2)).await;
        let conn = ctx.store.conn().await?;
        conn.execute(
            "INSERT INTO runs (n, attempt) VALUES ($1, $2)",
            &[&self.n, &run.attempt],
        )
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
        drop(conn);
        if self.panic {
            panic!("handler exploded");
        }
        if run.attempt <= self.fail_times {
            return Err(JobError::Retryable(format!(
                "transient failure {}",
                run.attempt
            )));
        }
        tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        Ok(Outcome::Done(serde_json::json!({ "n": self.n })))
    }
}

/// Asks once to be rescheduled 1.5 s later, then succeeds.
#[derive(Serialize, Deserialize)]
struct Later;

impl Job for Later {
    const KIND: &'static str = "later";
    type Context = Ctx;
    type Output = serde_json::Value;

    async fn run(&self, ctx: &Ctx, run: &JobRun) -> Result<Outcome, JobError> {
        let conn = ctx.store.conn().await?;
        let previous: i64 = conn
            .query_one("SELECT count(*) FROM runs WHERE n = -1", &[])
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?
            .get(0);
        conn.execute(
            "INSERT INTO runs (n, attempt) VALUES (-1, $1)",
            &[&run.attempt],
        )
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
        if previous == 0 {
            return Ok(Outcome::RescheduleAt {
                at: Utc::now() + chrono::Duration::milliseconds(1500),
                reason: "rate limited until reset".into(),
            });
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
        .batch_execute("CREATE TABLE runs (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, attempt INT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())")
        .await
        .unwrap();
    (db, store)
}

fn pool(store: &Store, count: usize, name: &str) -> WorkerPool<Ctx> {
    WorkerPool::new(
        store.clone(),
        Registry::new().register::<Record>().register::<Later>(),
        Arc::new(Ctx {
            store: store.clone(),
        }),
        settings(count),
        name,
    )
}

async fn wait_for(store: &Store, what: &str, sql: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = store
            .conn()
            .await
            .unwrap()
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0);
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

async fn assert_none_failed(store: &Store) {
    assert_eq!(
        count(store, "SELECT count(*) FROM jobs WHERE status = 'failed'").await,
        0,
        "a job was left failed"
    );
}

#[tokio::test]
async fn a_dedup_key_queues_once_and_runs_once() {
    let (_db, store) = setup().await;
    let job = Record {
        n: 1,
        sleep_ms: 0,
        fail_times: 0,
        panic: false,
        key: Some("crawl:kubernetes".into()),
    };
    let (a, b) = (store.conn().await.unwrap(), store.conn().await.unwrap());
    let (first, second) = tokio::join!(enqueue(&a, &job), enqueue(&b, &job));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.id(), second.id());
    assert!(matches!(
        (first, second),
        (
            hubpulse_store::queue::Enqueued::New(_),
            hubpulse_store::queue::Enqueued::Existing(_)
        ) | (
            hubpulse_store::queue::Enqueued::Existing(_),
            hubpulse_store::queue::Enqueued::New(_)
        )
    ));
    assert_eq!(count(&store, "SELECT count(*) FROM jobs").await, 1);

    let shutdown = CancellationToken::new();
    let handle = pool(&store, 2, "w").start(shutdown.clone());
    wait_for(
        &store,
        "succeeded",
        "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        1,
    )
    .await;
    assert_eq!(count(&store, "SELECT count(*) FROM runs").await, 1);
    // Once finished, the key is free again.
    assert_ne!(
        enqueue(&store.conn().await.unwrap(), &job)
            .await
            .unwrap()
            .id(),
        first.id()
    );
    shutdown.cancel();
    handle.join().await;
    let record = queue::job(&store.conn().await.unwrap(), first.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.progress_done, Some(1));
    assert_eq!(record.progress_total, Some(2));
    assert_eq!(record.result, Some(serde_json::json!({"n": 1})));
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn two_pools_run_two_thousand_jobs_exactly_once() {
    let (_db, store) = setup().await;
    let conn = store.conn().await.unwrap();
    // Enqueued in one statement: the queue, not the set-up, is under test.
    conn.execute(
        "INSERT INTO jobs (kind, payload, max_attempts) \
         SELECT 'record', jsonb_build_object('n', g), 3 FROM generate_series(1, 2000) g",
        &[],
    )
    .await
    .unwrap();
    drop(conn);
    let shutdown = CancellationToken::new();
    let a = pool(&store, 4, "replica-a").start(shutdown.clone());
    let b = pool(&store, 4, "replica-b").start(shutdown.clone());
    wait_for(
        &store,
        "succeeded",
        "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        2000,
    )
    .await;
    shutdown.cancel();
    a.join().await;
    b.join().await;
    assert_eq!(count(&store, "SELECT count(*) FROM runs").await, 2000);
    assert_eq!(
        count(&store, "SELECT count(DISTINCT n) FROM runs").await,
        2000,
        "a job ran twice"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM jobs WHERE attempts <> 1").await,
        0
    );
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn a_job_whose_worker_died_runs_again_after_its_lease_expires() {
    let (_db, store) = setup().await;
    let id = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 7,
            sleep_ms: 30_000,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let dying = pool(&store, 1, "dying").start(CancellationToken::new());
    wait_for(&store, "first run", "SELECT count(*) FROM runs", 1).await;
    // A crash: the worker vanishes without releasing or renewing.
    dying.abort();
    let record = queue::job(&store.conn().await.unwrap(), id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, JobStatus::Running);

    // The job is quick the second time round.
    store
        .conn()
        .await
        .unwrap()
        .execute(
            "UPDATE jobs SET payload = jsonb_set(payload, '{sleep_ms}', '0') WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let survivor = pool(&store, 1, "survivor").start(shutdown.clone());
    wait_for(
        &store,
        "second run",
        "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        1,
    )
    .await;
    shutdown.cancel();
    survivor.join().await;
    let record = queue::job(&store.conn().await.unwrap(), id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.attempts, 2);
    assert_eq!(count(&store, "SELECT count(*) FROM runs").await, 2);
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn a_rescheduled_job_does_not_run_before_its_time() {
    let (_db, store) = setup().await;
    let id = enqueue(&store.conn().await.unwrap(), &Later)
        .await
        .unwrap()
        .id();
    let shutdown = CancellationToken::new();
    let handle = pool(&store, 2, "w").start(shutdown.clone());
    wait_for(
        &store,
        "rescheduled",
        "SELECT count(*) FROM jobs WHERE status = 'rescheduled'",
        1,
    )
    .await;
    let record = queue::job(&store.conn().await.unwrap(), id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.attempts, 0, "a reschedule spends no attempt");
    wait_for(
        &store,
        "succeeded",
        "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        1,
    )
    .await;
    shutdown.cancel();
    handle.join().await;
    let gap: f64 = store
        .conn()
        .await
        .unwrap()
        .query_one(
            "SELECT extract(epoch FROM max(at) - min(at))::float8 FROM runs WHERE n = -1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        gap >= 1.45,
        "second run came {gap}s after the first, before its time"
    );
    assert_eq!(
        queue::job(&store.conn().await.unwrap(), id)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        1
    );
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_failed() {
    let (_db, store) = setup().await;
    let recovers = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 1,
            sleep_ms: 0,
            fail_times: 2,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let gives_up = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 2,
            sleep_ms: 0,
            fail_times: 99,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let panics = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 3,
            sleep_ms: 0,
            fail_times: 0,
            panic: true,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let unknown = queue::enqueue(
        &store.conn().await.unwrap(),
        &NewJob {
            kind: "no-such-kind".into(),
            payload: serde_json::json!({}),
            dedup_key: None,
            priority: 0,
            max_attempts: 3,
            run_at: None,
        },
    )
    .await
    .unwrap()
    .id();
    let shutdown = CancellationToken::new();
    let handle = pool(&store, 2, "w").start(shutdown.clone());
    wait_for(
        &store,
        "settled",
        "SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed')",
        4,
    )
    .await;
    // The worker survived the panic: a new job still runs.
    let after = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 4,
            sleep_ms: 0,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    wait_for(
        &store,
        "after panic",
        "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        2,
    )
    .await;
    shutdown.cancel();
    handle.join().await;

    let r = queue::job(&store.conn().await.unwrap(), recovers)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.status, r.attempts), (JobStatus::Succeeded, 3));
    let r = queue::job(&store.conn().await.unwrap(), gives_up)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.status, r.attempts), (JobStatus::Failed, 3));
    assert_eq!(r.last_error.as_deref(), Some("transient failure 3"));
    let r = queue::job(&store.conn().await.unwrap(), panics)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, JobStatus::Failed);
    let last_error = r.last_error.unwrap();
    assert!(last_error.contains("panicked"), "{last_error}");
    // Public on /v1/tasks: the panic's own text stays in the log.
    assert!(!last_error.contains("exploded"), "{last_error}");
    let r = queue::job(&store.conn().await.unwrap(), unknown)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.status, r.attempts),
        (JobStatus::Failed, 1),
        "an unknown kind fails at once"
    );
    assert_eq!(
        queue::job(&store.conn().await.unwrap(), after)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Succeeded
    );
    // Backoff: the three attempts of the retried job are spread out.
    let spread: f64 = store
        .conn()
        .await
        .unwrap()
        .query_one(
            "SELECT extract(epoch FROM max(at) - min(at))::float8 FROM runs WHERE n = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(spread >= 0.015, "retries came {spread}s apart: no backoff");
    assert_eq!(
        count(&store, "SELECT count(*) FROM jobs WHERE status = 'failed'").await,
        3,
        "only the exhausted, panicking and unknown jobs are failed"
    );
}

#[tokio::test]
async fn shutdown_lets_short_jobs_finish_and_releases_long_ones() {
    let (_db, store) = setup().await;
    let short = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 1,
            sleep_ms: 300,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let long = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 2,
            sleep_ms: 60_000,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let shutdown = CancellationToken::new();
    let handle = pool(&store, 2, "w").start(shutdown.clone());
    wait_for(&store, "both started", "SELECT count(*) FROM runs", 2).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle.join())
        .await
        .expect("workers stop within the grace period");
    assert_eq!(
        queue::job(&store.conn().await.unwrap(), short)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Succeeded
    );
    let r = queue::job(&store.conn().await.unwrap(), long)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.status, r.attempts),
        (JobStatus::Queued, 0),
        "released with its attempt given back"
    );
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_complete_the_job() {
    let (_db, store) = setup().await;
    let id = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 1,
            sleep_ms: 0,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    let lease = Duration::from_millis(200);
    let conn = store.conn().await.unwrap();
    let claimed = queue::claim(&conn, "old", lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = queue::claim(&conn, "new", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempt), (id, 2));
    assert!(!queue::renew_lease(&conn, id, "old", lease).await.unwrap());
    assert!(
        !queue::complete(&conn, id, "old", &serde_json::json!({"stale": true}))
            .await
            .unwrap()
    );
    assert!(
        queue::complete(&conn, id, "new", &serde_json::json!({"fresh": true}))
            .await
            .unwrap()
    );
    assert_eq!(
        queue::job(&store.conn().await.unwrap(), id)
            .await
            .unwrap()
            .unwrap()
            .result,
        Some(serde_json::json!({"fresh": true}))
    );
    assert_none_failed(&store).await;
}

#[tokio::test]
async fn an_idle_worker_wakes_on_enqueue_before_its_next_poll() {
    let (_db, store) = setup().await;
    let shutdown = CancellationToken::new();
    let handle = WorkerPool::new(
        store.clone(),
        Registry::new().register::<Record>(),
        Arc::new(Ctx {
            store: store.clone(),
        }),
        WorkerSettings {
            poll_interval_ms: 120_000,
            ..settings(1)
        },
        "w",
    )
    .start(shutdown.clone());
    wait_for(
        &store,
        "listening",
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN hubpulse_jobs'",
        1,
    )
    .await;
    let id = enqueue(
        &store.conn().await.unwrap(),
        &Record {
            n: 1,
            sleep_ms: 0,
            fail_times: 0,
            panic: false,
            key: None,
        },
    )
    .await
    .unwrap()
    .id();
    tokio::time::timeout(
        Duration::from_secs(10),
        wait_for(
            &store,
            "woken",
            "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
            1,
        ),
    )
    .await
    .expect("the worker woke on the notification, not its two-minute poll");
    shutdown.cancel();
    handle.join().await;
    assert_eq!(
        queue::job(&store.conn().await.unwrap(), id)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Succeeded
    );
    assert_none_failed(&store).await;
}
