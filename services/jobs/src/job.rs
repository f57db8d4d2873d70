use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hubpulse_github::{Disposition, GithubError, WalkError};
use hubpulse_store::queue::{self, Enqueued, JobId, NewJob};
use hubpulse_store::{Db, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A kind of background work. One kind per file under `kinds/`.
///
/// Handlers must be idempotent: a job runs at least once, and again when its
/// worker dies mid-run or its lease is lost, so running it twice must leave
/// the same state as running it once.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored in the `kind` column; never rename one that may be queued.
    const KIND: &'static str;
    const PRIORITY: i16 = 0;
    const MAX_ATTEMPTS: i32 = 5;

    /// What the handler needs (store, cache, GitHub client, ...).
    type Context: Send + Sync + 'static;

    /// What a finished run reports, stored as the job's `result` and shown
    /// at `/v1/tasks/{id}`; documented there through
    /// [`crate::kinds::JobOutput`].
    type Output: Serialize + Send + 'static;

    /// Jobs with the same key are not queued twice while one is live.
    fn dedup_key(&self) -> Option<String> {
        None
    }

    fn run(
        &self,
        ctx: &Self::Context,
        run: &JobRun,
    ) -> impl Future<Output = Result<Outcome<Self::Output>, JobError>> + Send;
}

/// How a run ended. Kinds return their own `Output`; the registry stores it
/// as JSON, which is the `Outcome` the worker sees.
#[derive(Debug, Clone)]
pub enum Outcome<T = serde_json::Value> {
    /// Finished; the value is the job's result, shown at `/v1/tasks/{id}`.
    Done(T),
    /// Not now (a rate limit): run again at `at` without spending an attempt.
    RescheduleAt { at: DateTime<Utc>, reason: String },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt, after a backoff.
    #[error("{0}")]
    Retryable(String),
    /// Another attempt cannot help.
    #[error("{0}")]
    Permanent(String),
    /// Not a failure (a rate limit, the shared budget): the worker treats it
    /// as [`Outcome::RescheduleAt`], so `?` on a GitHub call reschedules.
    #[error("not before {at}: {reason}")]
    RescheduleAt { at: DateTime<Utc>, reason: String },
}

/// A job's error becomes its public last_error (/v1/tasks): the database's
/// own words go to the log, the job keeps what kind of trouble it was.
impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        tracing::warn!(error = %err, "a job's database call failed");
        Self::Retryable(
            match err {
                StoreError::Unavailable(_) => "the database was unavailable",
                StoreError::NotFound(_) => "a row the job needed was gone",
                StoreError::Conflict(_) => "a conflicting write to the database",
                _ => "a database error (see the replica's log)",
            }
            .into(),
        )
    }
}

/// Every job kind's GitHub errors, by [`GithubError::disposition`].
impl From<GithubError> for JobError {
    fn from(err: GithubError) -> Self {
        let message = format!("GitHub: {err}");
        match err.disposition() {
            Disposition::Retry => Self::Retryable(message),
            Disposition::RescheduleAt(at) => Self::RescheduleAt {
                at,
                reason: err.to_string(),
            },
            Disposition::GiveUp => Self::Permanent(message),
        }
    }
}

/// A walk's errors: GitHub's by their disposition, the page store's as
/// the store's.
impl From<WalkError<StoreError>> for JobError {
    fn from(err: WalkError<StoreError>) -> Self {
        match err {
            WalkError::Github(err) => err.into(),
            WalkError::Memory(err) => err.into(),
        }
    }
}

/// What a running handler knows about its own run.
#[derive(Clone)]
pub struct JobRun {
    pub id: JobId,
    pub attempt: i32,
    pub max_attempts: i32,
    pub(crate) worker: String,
    pub(crate) store: Store,
}

impl JobRun {
    /// Call in every transaction that writes the job's work, before its
    /// commit: it fails with [`StoreError::LeaseLost`] once this run's lease
    /// has moved on, and holds the lease still until the transaction ends.
    /// First, a lost lease stops the work early; last (a crawl's pages,
    /// written two at once), the job's row is held only while committing.
    /// The worker also stops the handler when the lease is lost; this covers
    /// a write already under way at that moment.
    pub async fn fence(&self, tx: &impl Db) -> Result<(), StoreError> {
        queue::hold_lease(tx, self.id, &self.worker).await
    }

    /// Records progress (shown at `/v1/tasks/{id}`). Best effort: a failure
    /// to record progress does not fail the job.
    pub async fn set_progress(&self, done: i64, total: Option<i64>) {
        let recorded = async {
            let conn = self.store.conn().await?;
            queue::set_progress(&conn, self.id, &self.worker, done, total).await
        };
        if let Err(err) = recorded.await {
            tracing::warn!(job_id = self.id, error = %err, "could not record progress");
        }
    }
}

/// Queues `job` with the kind's priority, attempt limit and dedup key, on a
/// connection or inside the caller's transaction (see `queue::enqueue`).
pub async fn enqueue<J: Job>(db: &impl Db, job: &J) -> Result<Enqueued, StoreError> {
    enqueue_at(db, job, None).await
}

pub async fn enqueue_at<J: Job>(
    db: &impl Db,
    job: &J,
    delay: Option<Duration>,
) -> Result<Enqueued, StoreError> {
    let payload = serde_json::to_value(job)
        .map_err(|e| StoreError::Database(format!("serializing a {} job: {e}", J::KIND)))?;
    let run_at = delay
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d);
    queue::enqueue(
        db,
        &NewJob {
            kind: J::KIND.to_owned(),
            payload,
            dedup_key: job.dedup_key(),
            priority: J::PRIORITY,
            max_attempts: J::MAX_ATTEMPTS,
            run_at,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job's last_error is public (`/v1/tasks/{id}`): the database's own
    /// words (names of tables, values, connection details) stay in the log.
    #[test]
    fn a_database_error_reaches_last_error_as_its_kind_only() {
        let raw = "duplicate key value violates unique constraint \"owners_pkey\" (23505)";
        for (err, kind) in [
            (StoreError::Database(raw.into()), "a database error"),
            (
                StoreError::Unavailable(format!("error connecting to server: {raw}")),
                "the database was unavailable",
            ),
        ] {
            let job = JobError::from(err).to_string();
            assert!(job.starts_with(kind), "{job}");
            assert!(
                !job.contains("owners_pkey") && !job.contains("23505"),
                "{job}"
            );
        }
    }

    #[test]
    fn github_errors_become_retries_reschedules_or_failures() {
        let until = Utc::now();
        let cases = [
            (GithubError::Timeout { attempts: 3 }, "Retryable"),
            (
                GithubError::BudgetExhausted {
                    resource: hubpulse_github::Resource::Search,
                    until,
                },
                "RescheduleAt",
            ),
            (GithubError::NotFound, "Permanent"),
            (
                GithubError::TooManyPages {
                    endpoint: "user/repos",
                    pages: 3,
                },
                "Permanent",
            ),
        ];
        for (err, variant) in cases {
            let job: JobError = err.into();
            assert!(format!("{job:?}").starts_with(variant), "{job:?}");
        }
        let JobError::RescheduleAt { at, .. } = GithubError::RateLimited {
            resource: hubpulse_github::Resource::Core,
            until,
            secondary: false,
        }
        .into() else {
            panic!("a rate limit reschedules")
        };
        assert_eq!(at, until);
        let memory: JobError = WalkError::Memory(StoreError::Database("down".into())).into();
        assert!(matches!(memory, JobError::Retryable(_)), "{memory:?}");
    }
}
