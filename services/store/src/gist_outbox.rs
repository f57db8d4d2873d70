//! The Pipedrive outbox of gist files, and each tracked user's deal.
//!
//! Exactly-once in effect, without idempotency keys on Pipedrive's side:
//! an attempt is recorded ([`mark_attempt`], committed) before its POST,
//! and the remote id after it ([`delivered`]). A row found attempted and
//! not delivered had an unknown outcome (a timeout, a crash, a reply lost
//! after Pipedrive accepted it): delivery looks for its marker in Pipedrive
//! before posting again. Deals follow the same rule on `tracked_users`.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Transaction};

use crate::{Db, StoreError};

/// One gist file still to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub gist_id: String,
    pub filename: String,
    pub html_url: String,
    pub attempts: i32,
    /// Set: an earlier POST may have landed.
    pub attempted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Up to `limit` of the owner's rows due now, oldest first.
pub async fn due(db: &impl Db, owner_id: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT o.id, o.gist_id, o.filename, g.html_url, o.attempts, o.attempted_at, o.created_at \
             FROM gist_outbox o JOIN gists g ON g.id = o.gist_id \
             WHERE o.owner_id = $1 AND NOT o.parked AND o.next_attempt_at <= now() \
             ORDER BY o.id LIMIT $2",
            &[&owner_id, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| OutboxRow {
            id: r.get(0),
            gist_id: r.get(1),
            filename: r.get(2),
            html_url: r.get(3),
            attempts: r.get(4),
            attempted_at: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// When the owner's next row is due (`None`: nothing left but parked rows).
pub async fn next_due(db: &impl Db, owner_id: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT min(next_attempt_at) FROM gist_outbox WHERE owner_id = $1 AND NOT parked",
            &[&owner_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Records an attempt before its POST. Commit it before posting.
pub async fn mark_attempt(db: &impl Db, id: i64) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE gist_outbox SET attempts = attempts + 1, attempted_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// The activity exists in Pipedrive: its id onto the file, the row gone.
/// Returns the row's age (first seen to now), for the latency metric.
pub async fn delivered(
    tx: &Transaction<'_>,
    id: i64,
    activity_id: i64,
) -> Result<Option<f64>, StoreError> {
    let row = tx
        .query_opt(
            "DELETE FROM gist_outbox WHERE id = $1 \
             RETURNING gist_id, filename, extract(epoch FROM now() - created_at)::float8",
            &[&id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (gist_id, filename): (String, String) = (row.get(0), row.get(1));
    tx.execute(
        "UPDATE gist_files SET activity_id = $3, delivered_at = now() \
         WHERE gist_id = $1 AND filename = $2",
        &[&gist_id, &filename, &activity_id],
    )
    .await?;
    Ok(Some(row.get(2)))
}

/// Not now: try the row again at `at`.
pub async fn defer(
    db: &impl Db,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE gist_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
            &[&id, &at, &error],
        )
        .await?;
    Ok(())
}

/// Never: the row stays, parked with the reason (visible in the API and metrics).
pub async fn park(db: &impl Db, id: i64, reason: &str) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE gist_outbox SET parked = true, last_error = $2 WHERE id = $1",
            &[&id, &reason],
        )
        .await?;
    Ok(())
}

/// Parks every due row of the owner (its deal cannot be made).
pub async fn park_owner(db: &impl Db, owner_id: i64, reason: &str) -> Result<u64, StoreError> {
    Ok(db
        .client()
        .execute(
            "UPDATE gist_outbox SET parked = true, last_error = $2 WHERE owner_id = $1 AND NOT parked",
            &[&owner_id, &reason],
        )
        .await?)
}

/// The outbox at a glance, for `/metrics` and the API.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxStats {
    /// Rows still to post (parked excluded).
    pub depth: i64,
    pub parked: i64,
    /// Seconds since the oldest unparked row was first seen; 0 when none.
    pub oldest_age_secs: f64,
}

pub async fn stats(db: &impl Db, owner_id: Option<i64>) -> Result<OutboxStats, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT count(*) FILTER (WHERE NOT parked), count(*) FILTER (WHERE parked), \
                 coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE NOT parked)), 0)::float8 \
             FROM gist_outbox WHERE $1::bigint IS NULL OR owner_id = $1",
            &[&owner_id],
        )
        .await?;
    Ok(OutboxStats {
        depth: row.get(0),
        parked: row.get(1),
        oldest_age_secs: row.get(2),
    })
}

/// Parked rows with their reasons, newest first.
pub async fn parked(
    db: &impl Db,
    owner_id: i64,
    limit: i64,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT gist_id, filename, coalesce(last_error, '') FROM gist_outbox \
             WHERE owner_id = $1 AND parked ORDER BY id DESC LIMIT $2",
            &[&owner_id, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The owner's deal as recorded: its id, and whether a POST was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealState {
    pub deal_id: Option<i64>,
    pub attempted: bool,
}

pub async fn deal(db: &impl Db, owner_id: i64) -> Result<Option<(String, DealState)>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT login, deal_id, deal_attempted_at IS NOT NULL FROM tracked_users WHERE github_id = $1",
            &[&owner_id],
        )
        .await?;
    Ok(row.map(|r| {
        (
            r.get(0),
            DealState {
                deal_id: r.get(1),
                attempted: r.get(2),
            },
        )
    }))
}

/// Records a deal POST about to be made. Commit it before posting.
pub async fn mark_deal_attempt(db: &impl Db, owner_id: i64) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE tracked_users SET deal_attempted_at = now() WHERE github_id = $1",
            &[&owner_id],
        )
        .await?;
    Ok(())
}

/// The deal exists; only the first id recorded is kept.
pub async fn set_deal(db: &impl Db, owner_id: i64, deal_id: i64) -> Result<i64, StoreError> {
    let row = db
        .client()
        .query_one(
            "UPDATE tracked_users SET deal_id = coalesce(deal_id, $2) WHERE github_id = $1 RETURNING deal_id",
            &[&owner_id, &deal_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Owners with rows due, for the delivery sweep.
pub async fn owners_with_work(db: &impl Db) -> Result<Vec<i64>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT DISTINCT owner_id FROM gist_outbox WHERE NOT parked ORDER BY owner_id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
