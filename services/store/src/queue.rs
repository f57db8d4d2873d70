//! The job queue, all of its SQL in one place. A job is claimed with
//! `FOR UPDATE SKIP LOCKED` and then held by a lease (owner + expiry) rather
//! than an open transaction, because jobs wait on GitHub's rate limits for
//! minutes. Every change to a running job is guarded by the lease owner, so
//! a worker that lost its lease cannot overwrite the work of the next one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, GenericClient, NoTls, Row};

use crate::{Db, Store, StoreError};

pub type JobId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Rescheduled,
}

impl JobStatus {
    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "rescheduled" => Self::Rescheduled,
            other => return Err(StoreError::Database(format!("unknown job status {other}"))),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rescheduled => "rescheduled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub dedup_key: Option<String>,
    pub priority: i16,
    pub max_attempts: i32,
    /// `None`: as soon as a worker is free.
    pub run_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(JobId),
    /// A live job with the same dedup key already exists.
    Existing(JobId),
}

impl Enqueued {
    pub fn id(self) -> JobId {
        match self {
            Self::New(id) | Self::Existing(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
}

/// A job's row, all of it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    pub dedup_key: Option<String>,
    pub status: JobStatus,
    pub priority: i16,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const RECORD_COLUMNS: &str = "id, kind, payload, dedup_key, status::text, priority, attempts, max_attempts, run_at, \
     last_error, progress_done, progress_total, result, created_at, started_at, finished_at, updated_at";

impl JobRecord {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.get(0),
            kind: row.get(1),
            payload: row.get(2),
            dedup_key: row.get(3),
            status: JobStatus::parse(row.get(4))?,
            priority: row.get(5),
            attempts: row.get(6),
            max_attempts: row.get(7),
            run_at: row.get(8),
            last_error: row.get(9),
            progress_done: row.get(10),
            progress_total: row.get(11),
            result: row.get(12),
            created_at: row.get(13),
            started_at: row.get(14),
            finished_at: row.get(15),
            updated_at: row.get(16),
        })
    }
}

/// How a failed attempt ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    WillRetry,
    Failed,
    /// The lease had moved on: nothing was written.
    LeaseLost,
}

/// The channel `enqueue` and `release` notify, so idle workers wake at once
/// instead of at their next poll.
const WAKE_CHANNEL: &str = "hubpulse_jobs";

/// Between attempts to (re)open the LISTEN connection while Postgres is down.
const LISTEN_RETRY: Duration = Duration::from_secs(2);

/// Wakes idle workers when a job becomes runnable. Best effort: a wake-up
/// lost while the connection is down is covered by the workers' polling.
/// Stops listening when dropped.
pub struct JobWakeups {
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

impl JobWakeups {
    /// Resolves at the next notification. Create it (and `enable` it) before
    /// looking for work, so a job queued while looking is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for JobWakeups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Listens for new jobs on a connection of its own (outside the pool,
/// which would hand a LISTENing session to others), reopening it after
/// Postgres comes back.
pub fn wakeups(store: &Store) -> JobWakeups {
    let notify = Arc::new(Notify::new());
    let config = store.config.clone();
    let task = tokio::spawn({
        let notify = notify.clone();
        async move {
            loop {
                match listen(&config, &notify).await {
                    Ok(()) => tracing::debug!("job wake-up connection closed; reopening"),
                    Err(err) => {
                        tracing::debug!(error = %err, "job wake-ups unavailable; workers poll")
                    }
                }
                // Whatever was queued while we were deaf gets a look now.
                notify.notify_waiters();
                tokio::time::sleep(LISTEN_RETRY).await;
            }
        }
    });
    JobWakeups { notify, task }
}

/// Queues a job, or finds the live job with its dedup key.
///
/// Works on a connection or inside the caller's transaction: there the job
/// exists only if the transaction commits, and the NOTIFY that wakes idle
/// workers is delivered at commit (or never, on rollback). The NOTIFY is part
/// of the insert statement, so a failing NOTIFY fails the insert with it
/// instead of silently aborting the caller's transaction.
pub async fn enqueue(db: &impl Db, job: &NewJob) -> Result<Enqueued, StoreError> {
    let conn = db.client();
    // The insert and the look-up race with a live job finishing; a few
    // rounds settle it.
    for _ in 0..5 {
        let inserted = conn
            .query_opt(
                "WITH inserted AS ( \
                     INSERT INTO jobs (kind, payload, dedup_key, priority, max_attempts, run_at) \
                     VALUES ($1, $2, $3, $4, $5, COALESCE($6, now())) \
                     ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL \
                         AND status IN ('queued', 'running', 'rescheduled') DO NOTHING \
                     RETURNING id) \
                 SELECT id FROM inserted CROSS JOIN LATERAL (SELECT pg_notify($7, '')) AS woken",
                &[
                    &job.kind,
                    &job.payload,
                    &job.dedup_key,
                    &job.priority,
                    &job.max_attempts,
                    &job.run_at,
                    &WAKE_CHANNEL,
                ],
            )
            .await?;
        if let Some(row) = inserted {
            return Ok(Enqueued::New(row.get(0)));
        }
        let existing = conn
            .query_opt(
                "SELECT id FROM jobs WHERE dedup_key = $1 \
                 AND status IN ('queued', 'running', 'rescheduled')",
                &[&job.dedup_key],
            )
            .await?;
        if let Some(row) = existing {
            return Ok(Enqueued::Existing(row.get(0)));
        }
    }
    Err(StoreError::Conflict(
        "could not enqueue: the dedup key kept changing hands".into(),
    ))
}

/// Takes the next due job, or a running job whose lease expired (its
/// worker died), and leases it to `worker` for `lease`.
pub async fn claim(
    db: &impl Db,
    worker: &str,
    lease: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let conn = db.client();
    // A job whose worker died on its last allowed attempt is failed, not run again.
    conn.execute(
        "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, \
             finished_at = now(), updated_at = now(), \
             last_error = 'the worker running the last attempt stopped answering (lease expired)' \
         WHERE status = 'running' AND lease_expires_at < now() AND attempts >= max_attempts",
        &[],
    )
    .await?;
    let row = conn
        .query_opt(
            "WITH next AS ( \
                 SELECT id FROM jobs \
                 WHERE (status IN ('queued', 'rescheduled') AND run_at <= now()) \
                    OR (status = 'running' AND lease_expires_at < now()) \
                 ORDER BY priority DESC, run_at, id \
                 FOR UPDATE SKIP LOCKED \
                 LIMIT 1) \
             UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, \
                 lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2), \
                 started_at = COALESCE(j.started_at, now()), updated_at = now() \
             FROM next WHERE j.id = next.id \
             RETURNING j.id, j.kind, j.payload, j.attempts, j.max_attempts",
            &[&worker, &secs(lease)],
        )
        .await?;
    Ok(row.map(|row| ClaimedJob {
        id: row.get(0),
        kind: row.get(1),
        payload: row.get(2),
        attempt: row.get(3),
        max_attempts: row.get(4),
    }))
}

/// False when the lease is no longer this worker's.
pub async fn renew_lease(
    db: &impl Db,
    id: JobId,
    worker: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let conn = db.client();
    let n = conn
        .execute(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            &[&id, &worker, &secs(lease)],
        )
        .await?;
    Ok(n == 1)
}

/// Fences a job's writes: locks the job's row in the caller's transaction
/// and fails unless `worker` still holds a live lease on it. Until that
/// transaction ends, no other worker can claim the job (a claim skips a
/// locked row) nor can the lease be renewed or moved, so what the
/// transaction writes commits only under a lease this worker held.
pub async fn hold_lease(db: &impl Db, id: JobId, worker: &str) -> Result<(), StoreError> {
    let held = db
        .client()
        .query_opt(
            "SELECT 1 FROM jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running' \
             AND lease_expires_at > now() FOR NO KEY UPDATE",
            &[&id, &worker],
        )
        .await?;
    held.map(drop).ok_or(StoreError::LeaseLost(id))
}

pub async fn set_progress(
    db: &impl Db,
    id: JobId,
    worker: &str,
    done: i64,
    total: Option<i64>,
) -> Result<bool, StoreError> {
    let conn = db.client();
    let n = conn
        .execute(
            "UPDATE jobs SET progress_done = $3, progress_total = COALESCE($4, progress_total), updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            &[&id, &worker, &done, &total],
        )
        .await?;
    Ok(n == 1)
}

pub async fn complete(
    db: &impl Db,
    id: JobId,
    worker: &str,
    result: &Value,
) -> Result<bool, StoreError> {
    let conn = db.client();
    let n = conn
        .execute(
            "UPDATE jobs SET status = 'succeeded', result = $3, finished_at = now(), updated_at = now(), \
                 lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            &[&id, &worker, result],
        )
        .await?;
    Ok(n == 1)
}

/// Records a failed attempt: queued again at `retry_at` while attempts
/// remain (and `retryable`), failed for good otherwise.
pub async fn fail_attempt(
    db: &impl Db,
    id: JobId,
    worker: &str,
    error: &str,
    retryable: bool,
    retry_at: DateTime<Utc>,
) -> Result<FailOutcome, StoreError> {
    let conn = db.client();
    let row = conn
        .query_opt(
            "UPDATE jobs SET \
                 status = CASE WHEN $4 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END::job_status, \
                 run_at = CASE WHEN $4 AND attempts < max_attempts THEN $5 ELSE run_at END, \
                 finished_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE now() END, \
                 last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running' \
             RETURNING status::text",
            &[&id, &worker, &error, &retryable, &retry_at],
        )
        .await?;
    Ok(match row.as_ref().map(|r| r.get::<_, &str>(0)) {
        None => FailOutcome::LeaseLost,
        Some("queued") => FailOutcome::WillRetry,
        Some(_) => FailOutcome::Failed,
    })
}

/// Puts the job back to run at `at` without spending an attempt: how
/// rate limits are honoured.
pub async fn reschedule(
    db: &impl Db,
    id: JobId,
    worker: &str,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<bool, StoreError> {
    let conn = db.client();
    let n = conn
        .execute(
            "UPDATE jobs SET status = 'rescheduled', run_at = $3, attempts = attempts - 1, \
                 last_error = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            &[&id, &worker, &at, &reason],
        )
        .await?;
    Ok(n == 1)
}

/// Hands a job back at shutdown, its attempt returned.
pub async fn release(db: &impl Db, id: JobId, worker: &str) -> Result<bool, StoreError> {
    let conn = db.client();
    let n = conn
        .execute(
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, run_at = now(), \
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            &[&id, &worker],
        )
        .await?;
    if n == 1 {
        // Another replica may be idle and able to take it now.
        wake_workers(conn).await;
    }
    Ok(n == 1)
}

/// Live jobs by kind and status (queued, running, rescheduled): the
/// queue's depth, for /metrics. Finished jobs are history, not depth.
pub async fn queue_depth(db: &impl Db) -> Result<Vec<(String, String, i64)>, StoreError> {
    let conn = db.client();
    let rows = conn
        .query(
            "SELECT kind, status::text, count(*) FROM jobs \
             WHERE status IN ('queued', 'running', 'rescheduled') \
             GROUP BY kind, status",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

pub async fn job(db: &impl Db, id: JobId) -> Result<Option<JobRecord>, StoreError> {
    let conn = db.client();
    let row = conn
        .query_opt(
            &format!("SELECT {RECORD_COLUMNS} FROM jobs WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(JobRecord::from_row).transpose()
}

/// Jobs by kind and status: queue depth for the metrics.
pub async fn job_counts(db: &impl Db) -> Result<Vec<(String, JobStatus, i64)>, StoreError> {
    let conn = db.client();
    let rows = conn
        .query(
            "SELECT kind, status::text, count(*) FROM jobs GROUP BY kind, status",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.get(0), JobStatus::parse(row.get(1))?, row.get(2))))
        .collect()
}

/// Best effort: the job is released either way, and workers also poll.
async fn wake_workers(conn: &impl GenericClient) {
    if let Err(err) = conn
        .execute("SELECT pg_notify($1, '')", &[&WAKE_CHANNEL])
        .await
    {
        tracing::debug!(error = %StoreError::from(err), "could not notify workers");
    }
}

/// One LISTEN session: returns when the connection ends.
async fn listen(config: &tokio_postgres::Config, notify: &Notify) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection must be polled for LISTEN to complete and for the
    // notifications to arrive; both happen on this one task.
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {WAKE_CHANNEL}");
    let subscribe = client.batch_execute(&statement);
    tokio::pin!(subscribe);
    loop {
        tokio::select! {
            subscribed = &mut subscribe => {
                subscribed?;
                break;
            }
            message = futures::StreamExt::next(&mut messages) => match message {
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => return Ok(()),
            },
        }
    }
    tracing::debug!("listening for job wake-ups");
    while let Some(message) = futures::StreamExt::next(&mut messages).await {
        match message {
            Ok(AsyncMessage::Notification(_)) => notify.notify_waiters(),
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// The newest jobs first, optionally of one kind and status, `limit` of
/// them with ids below `before` (a keyset page of `GET /v1/tasks`).
pub async fn recent(
    db: &impl Db,
    kind: Option<&str>,
    status: Option<JobStatus>,
    before: Option<JobId>,
    limit: i64,
) -> Result<Vec<JobRecord>, StoreError> {
    let status = status.map(JobStatus::as_str);
    let rows = db
        .client()
        .query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM jobs \
                 WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR status::text = $2) \
                   AND ($3::bigint IS NULL OR id < $3) \
                 ORDER BY id DESC LIMIT $4"
            ),
            &[&kind, &status, &before, &limit],
        )
        .await?;
    rows.iter().map(JobRecord::from_row).collect()
}
