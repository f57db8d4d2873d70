use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hubpulse_store::queue::{self, ClaimedJob, FailOutcome, JobId, JobWakeups};
use hubpulse_store::{Store, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{JobError, JobRun, Outcome, Registry, WorkerSettings};

/// Told about every finished attempt; how the API turns job runs into
/// metrics without this crate knowing Prometheus.
pub trait JobObserver: Send + Sync + 'static {
    fn attempt_finished(&self, kind: &str, outcome: &'static str, duration: Duration);
}

pub struct WorkerPool<C> {
    store: Store,
    registry: Arc<Registry<C>>,
    ctx: Arc<C>,
    settings: WorkerSettings,
    name: String,
    observer: Option<Arc<dyn JobObserver>>,
}

pub struct WorkerPoolHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl WorkerPoolHandle {
    /// Resolves once every worker has stopped (after the shutdown token fired).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Kills the workers without releasing their jobs, as a crash would:
    /// their leases expire and another worker takes the jobs up.
    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl<C: Send + Sync + 'static> WorkerPool<C> {
    /// `name` identifies this process in lease owners (`name-1`, `name-2`, ...).
    pub fn new(
        store: Store,
        registry: Registry<C>,
        ctx: Arc<C>,
        settings: WorkerSettings,
        name: impl Into<String>,
    ) -> Self {
        Self {
            store,
            registry: Arc::new(registry),
            ctx,
            settings,
            name: name.into(),
            observer: None,
        }
    }

    pub fn with_observer(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn start(self, shutdown: CancellationToken) -> WorkerPoolHandle {
        let pool = Arc::new(self);
        // The process id keeps lease owners apart across restarts of one
        // replica; the random part keeps apart what the pid cannot: copies
        // on other hosts, or in containers, that share a name and a pid
        // (compose `--scale` starts every copy as pid 1). Two workers with
        // one id would both pass the queue's owner checks for one lease.
        let pid = std::process::id();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let nonce = &nonce[..12];
        if pool.settings.count == 0 {
            return WorkerPoolHandle { tasks: Vec::new() };
        }
        let wakeups = Arc::new(queue::wakeups(&pool.store));
        let tasks = (1..=pool.settings.count)
            .map(|n| {
                let worker = Worker {
                    pool: pool.clone(),
                    id: format!("{}-{pid}-{nonce}-{n}", pool.name),
                    shutdown: shutdown.clone(),
                    wakeups: wakeups.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        WorkerPoolHandle { tasks }
    }
}

struct Worker<C> {
    pool: Arc<WorkerPool<C>>,
    id: String,
    shutdown: CancellationToken,
    /// Shared by the pool's workers; the last one to stop closes it.
    wakeups: Arc<JobWakeups>,
}

impl<C: Send + Sync + 'static> Worker<C> {
    fn lease(&self) -> Duration {
        Duration::from_secs(self.pool.settings.lease_secs)
    }

    /// Renews the lease, giving up after `within` (a renewal stuck on a
    /// lock or an exhausted pool is as good as a failed one). The renewal
    /// runs in a task of its own that is left to finish, never dropped
    /// mid-query: a pooled connection must not go back to the pool with a
    /// statement still queued on it.
    async fn renew_lease(&self, id: JobId, within: Duration) -> Result<bool, StoreError> {
        let (store, worker, lease) = (self.pool.store.clone(), self.id.clone(), self.lease());
        let renewal = tokio::spawn(async move {
            let conn = store.conn().await?;
            queue::renew_lease(&conn, id, &worker, lease).await
        });
        match tokio::time::timeout(within, renewal).await {
            Ok(Ok(renewed)) => renewed,
            Ok(Err(_)) => Err(StoreError::Unavailable(
                "the lease renewal task died".into(),
            )),
            Err(_) => Err(StoreError::Unavailable("lease renewal timed out".into())),
        }
    }

    async fn run(self) {
        let poll = Duration::from_millis(self.pool.settings.poll_interval_ms);
        tracing::debug!(worker = %self.id, "worker started");
        while !self.shutdown.is_cancelled() {
            let wake = self.wakeups.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let claimed = async {
                queue::claim(&self.pool.store.conn().await?, &self.id, self.lease()).await
            };
            match claimed.await {
                Ok(Some(job)) => {
                    let span = tracing::info_span!("job", job_id = job.id, kind = %job.kind, attempt = job.attempt, worker = %self.id);
                    self.run_job(job).instrument(span).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(worker = %self.id, error = %err, "could not claim a job")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = wake => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        tracing::debug!(worker = %self.id, "worker stopped");
    }

    async fn run_job(&self, job: ClaimedJob) {
        let started = Instant::now();
        tracing::info!("job started");
        let Some(runner) = self.pool.registry.runner(&job.kind) else {
            let error = format!("no handler for job kind {:?} in this build", job.kind);
            self.finish(&job, Err(JobError::Permanent(error)), started)
                .await;
            return;
        };
        let run = JobRun {
            id: job.id,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            worker: self.id.clone(),
            store: self.pool.store.clone(),
        };
        // A task of its own so a panic is caught at the join; aborted when
        // this future is dropped, so a killed worker does not leave its
        // handler running unsupervised.
        let mut handler = AbortOnDrop(tokio::spawn(
            runner(self.pool.ctx.clone(), run, job.payload.clone()).in_current_span(),
        ));
        let every = self.lease() / 3;
        let mut renew = tokio::time::interval(every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        // How long the lease surely holds: measured from before each
        // successful renewal was sent, so never later than the database's.
        let mut held_until = tokio::time::Instant::now() + self.lease();
        let grace = Duration::from_secs(self.pool.settings.shutdown_grace_secs);
        let mut release_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                joined = &mut handler.0 => {
                    let result = match joined {
                        Ok(result) => result,
                        Err(err) if err.is_panic() => {
                            // The panic's own words go to the log only: the
                            // job's last_error is public (/v1/tasks).
                            tracing::error!(panic = %panic_text(err), "job handler panicked");
                            Err(JobError::Retryable("the job's handler panicked (see the replica's log)".into()))
                        }
                        Err(_) => Err(JobError::Retryable("handler was cancelled".into())),
                    };
                    self.finish(&job, result, started).await;
                    return;
                }
                _ = renew.tick() => {
                    let sent = tokio::time::Instant::now();
                    let within = every.min(held_until.saturating_duration_since(sent));
                    let lost = match self.renew_lease(job.id, within).await {
                        Ok(true) => {
                            held_until = sent + self.lease();
                            None
                        }
                        Ok(false) => Some("taken"),
                        // Once the lease may lapse before the next renewal
                        // could land, another worker may take the job: stop
                        // now rather than write beside it.
                        Err(err) if tokio::time::Instant::now() + every >= held_until => {
                            tracing::warn!(error = %err, "could not renew the lease before it lapses");
                            Some("unrenewed")
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "could not renew the lease; will try again");
                            None
                        }
                    };
                    if let Some(why) = lost {
                        // The handler's future is dropped at its next await:
                        // no write of this run starts after this point.
                        handler.0.abort();
                        let _ = (&mut handler.0).await;
                        tracing::warn!(why, "lease lost; abandoning the run, its result is not written");
                        self.observe(&job, "lease_lost", started);
                        return;
                    }
                }
                () = self.shutdown.cancelled(), if release_at.is_none() => {
                    release_at = Some(tokio::time::Instant::now() + grace);
                }
                () = sleep_until_opt(release_at), if release_at.is_some() => {
                    handler.0.abort();
                    let released = async {
                        queue::release(&self.pool.store.conn().await?, job.id, &self.id).await
                    };
                    match released.await {
                        Ok(true) => tracing::info!("shutdown: job released for another worker"),
                        Ok(false) => tracing::warn!("shutdown: the lease had already moved on"),
                        Err(err) => tracing::warn!(error = %err, "shutdown: could not release the job; its lease will expire"),
                    }
                    self.observe(&job, "released", started);
                    return;
                }
            }
        }
    }

    async fn finish(&self, job: &ClaimedJob, result: Result<Outcome, JobError>, started: Instant) {
        let store = &self.pool.store;
        // A handler's `?` on a rate limit is a reschedule, not a failure.
        let result = match result {
            Err(JobError::RescheduleAt { at, reason }) => Ok(Outcome::RescheduleAt { at, reason }),
            other => other,
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let outcome = match result {
            Ok(Outcome::Done(value)) => match async {
                queue::complete(&store.conn().await?, job.id, &self.id, &value).await
            }
            .await
            {
                Ok(true) => {
                    tracing::info!(duration_ms, "job succeeded");
                    "succeeded"
                }
                Ok(false) => "lease_lost",
                Err(err) => {
                    tracing::warn!(error = %err, "could not record success; the job will run again when its lease expires");
                    "unrecorded"
                }
            },
            Ok(Outcome::RescheduleAt { at, reason }) => {
                let rescheduled = async {
                    queue::reschedule(&store.conn().await?, job.id, &self.id, at, &reason).await
                };
                match rescheduled.await {
                    Ok(_) => tracing::info!(duration_ms, run_at = %at, %reason, "job rescheduled"),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not reschedule; the lease will expire")
                    }
                }
                "rescheduled"
            }
            Err(err) => {
                let retryable = matches!(err, JobError::Retryable(_));
                let retry_at = Utc::now()
                    + chrono::Duration::from_std(self.backoff(job.attempt)).unwrap_or_default();
                let recorded = async {
                    let conn = store.conn().await?;
                    queue::fail_attempt(
                        &conn,
                        job.id,
                        &self.id,
                        &err.to_string(),
                        retryable,
                        retry_at,
                    )
                    .await
                };
                match recorded.await {
                    Ok(FailOutcome::WillRetry) => {
                        tracing::warn!(duration_ms, error = %err, retry_at = %retry_at, "attempt failed; will retry");
                        "retry"
                    }
                    Ok(FailOutcome::Failed) => {
                        tracing::error!(duration_ms, error = %err, "job failed");
                        "failed"
                    }
                    Ok(FailOutcome::LeaseLost) => "lease_lost",
                    Err(store_err) => {
                        tracing::warn!(error = %store_err, "could not record the failure; the lease will expire");
                        "unrecorded"
                    }
                }
            }
        };
        self.observe(job, outcome, started);
    }

    fn observe(&self, job: &ClaimedJob, outcome: &'static str, started: Instant) {
        if let Some(observer) = &self.pool.observer {
            observer.attempt_finished(&job.kind, outcome, started.elapsed());
        }
    }

    /// The shared policy (`hubpulse_runtime::Backoff`) from the worker settings.
    fn backoff(&self, attempt: i32) -> Duration {
        let settings = &self.pool.settings;
        hubpulse_runtime::Backoff::new(
            Duration::from_millis(settings.backoff_base_ms),
            Duration::from_secs(settings.backoff_cap_secs),
        )
        .delay(attempt.max(1) as u32)
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn panic_text(err: tokio::task::JoinError) -> String {
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "non-string panic payload".into())
}
