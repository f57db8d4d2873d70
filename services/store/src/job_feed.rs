//! The page's view of the queue: the most recent jobs with their progress.
//! Read-only; the queue's own SQL stays in `queue.rs`.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentJob {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// The `limit` most recently changed jobs, newest first.
pub async fn recent(db: &impl Db, limit: i64) -> Result<Vec<RecentJob>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT id, kind, status::text, progress_done, progress_total, updated_at \
             FROM jobs ORDER BY updated_at DESC, id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| RecentJob {
            id: r.get(0),
            kind: r.get(1),
            status: r.get(2),
            progress_done: r.get(3),
            progress_total: r.get(4),
            updated_at: r.get(5),
        })
        .collect())
}
