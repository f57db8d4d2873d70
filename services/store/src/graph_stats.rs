//! Counts for operators: how fast the job queue drains (the rate-limit
//! view's forecast) and how much of the developer graph is left to sync
//! (the frontier gauges on `/metrics`).

use std::time::Duration;

use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

/// The queue's live jobs and how many finished within a recent window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throughput {
    /// Queued or rescheduled: waiting for a worker or for their time.
    pub waiting: i64,
    pub running: i64,
    /// Succeeded or failed within the window.
    pub finished: i64,
}

/// Live jobs now, and jobs finished in the last `window` (read through
/// `jobs_finished_idx`, so a long history costs nothing).
pub async fn throughput(db: &impl Db, window: Duration) -> Result<Throughput, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT \
               (SELECT count(*) FROM jobs WHERE status IN ('queued', 'rescheduled')), \
               (SELECT count(*) FROM jobs WHERE status = 'running'), \
               (SELECT count(*) FROM jobs \
                  WHERE finished_at IS NOT NULL \
                    AND finished_at > now() - make_interval(secs => $1))",
            &[&window.as_secs_f64()],
        )
        .await?;
    Ok(Throughput {
        waiting: row.get(0),
        running: row.get(1),
        finished: row.get(2),
    })
}

/// The discovery frontier, split the way discovery takes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontierCounts {
    /// Known (met in a list) but never synced: taken first.
    pub never_synced: i64,
    /// Synced longer ago than the staleness window: taken after.
    pub stale: i64,
}

/// [`FrontierCounts`] within `max_depth`, gone developers left out, as
/// `developers::frontier_size` counts them (the two add up to it).
pub async fn frontier_counts(
    db: &impl Db,
    window: Duration,
    max_depth: Option<i32>,
) -> Result<FrontierCounts, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT count(*) FILTER (WHERE synced_at IS NULL), \
                    count(*) FILTER (WHERE synced_at IS NOT NULL) \
             FROM developers WHERE state <> 'gone' \
               AND (synced_at IS NULL OR synced_at < now() - make_interval(secs => $1)) \
               AND ($2::int IS NULL OR depth <= $2)",
            &[&window.as_secs_f64(), &max_depth],
        )
        .await?;
    Ok(FrontierCounts {
        never_synced: row.get(0),
        stale: row.get(1),
    })
}
