//! Tracked GitHub users, their gists and gist files, and named
//! subscribers' visits. New files and their Pipedrive work (the outbox,
//! [`crate::gist_outbox`]) are written by [`record_gists`] in the caller's
//! transaction, so a file is never stored without its delivery, nor the
//! other way round.
//!
//! Inserts of one owner's files take an advisory lock that readers of
//! "what is new" share: a reader never sees a later `seq` committed while
//! an earlier one is still in flight, so a cursor never skips a file.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Transaction};

use crate::{Db, StoreError};

/// The lock of one owner's files (`hashtextextended`: any bigint owner id).
const OWNER_LOCK: &str = "hashtextextended('gist_files:' || $1::bigint::text, 0)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedUser {
    pub github_id: i64,
    pub login: String,
    pub created_at: DateTime<Utc>,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub deal_id: Option<i64>,
}

const USER_COLUMNS: &str = "github_id, login, created_at, last_scan_at, deal_id";

fn user(row: &tokio_postgres::Row) -> TrackedUser {
    TrackedUser {
        github_id: row.get(0),
        login: row.get(1),
        created_at: row.get(2),
        last_scan_at: row.get(3),
        deal_id: row.get(4),
    }
}

/// Tracks a user by GitHub id (a renamed user keeps its row and gets its
/// new login); true when it was not tracked before.
pub async fn track_user(db: &impl Db, github_id: i64, login: &str) -> Result<bool, StoreError> {
    let row = db
        .client()
        .query_one(
            "INSERT INTO tracked_users (github_id, login) VALUES ($1, $2) \
             ON CONFLICT (github_id) DO UPDATE SET login = EXCLUDED.login, untracked_at = NULL \
             RETURNING (xmax = 0) OR (SELECT untracked_at IS NOT NULL FROM tracked_users WHERE github_id = $1)",
            &[&github_id, &login],
        )
        .await?;
    Ok(row.get(0))
}

/// Stops tracking a user; its gists, files and deal stay. True when it was tracked.
pub async fn untrack_user(db: &impl Db, login: &str) -> Result<bool, StoreError> {
    let n = db
        .client()
        .execute(
            "UPDATE tracked_users SET untracked_at = now() \
             WHERE lower(login) = lower($1) AND untracked_at IS NULL",
            &[&login],
        )
        .await?;
    Ok(n == 1)
}

/// Tracked users by login, `limit` after `after` (a login, lower case).
pub async fn tracked_users(
    db: &impl Db,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TrackedUser>, StoreError> {
    let rows = db
        .client()
        .query(
            &format!(
                "SELECT {USER_COLUMNS} FROM tracked_users \
                 WHERE untracked_at IS NULL AND ($1::text IS NULL OR lower(login) > lower($1)) \
                 ORDER BY lower(login) LIMIT $2"
            ),
            &[&after, &limit],
        )
        .await?;
    Ok(rows.iter().map(user).collect())
}

pub async fn tracked_user(db: &impl Db, login: &str) -> Result<Option<TrackedUser>, StoreError> {
    let row = db
        .client()
        .query_opt(
            &format!(
                "SELECT {USER_COLUMNS} FROM tracked_users \
                 WHERE lower(login) = lower($1) AND untracked_at IS NULL"
            ),
            &[&login],
        )
        .await?;
    Ok(row.as_ref().map(user))
}

/// Every tracked user's id, for the periodic scan.
pub async fn tracked_ids(db: &impl Db) -> Result<Vec<i64>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT github_id FROM tracked_users WHERE untracked_at IS NULL ORDER BY github_id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What a scan that won its window needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanClaim {
    pub login: String,
    /// The `since` to send; `None`: the whole list.
    pub since: Option<DateTime<Utc>>,
    pub last_full_scan_at: Option<DateTime<Utc>>,
}

/// Claims the user's scan for `window` for job `job`: `None` when another
/// job already holds this or a later window (or the user is not tracked).
/// The same job may claim again (a retry after a crash).
pub async fn claim_scan(
    db: &impl Db,
    github_id: i64,
    window: i64,
    job: i64,
) -> Result<Option<ScanClaim>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "UPDATE tracked_users SET scan_window = $2, scan_job = $3 \
             WHERE github_id = $1 AND untracked_at IS NULL \
               AND (scan_window IS NULL OR scan_window < $2 OR (scan_window = $2 AND scan_job = $3)) \
             RETURNING login, since_at, last_full_scan_at",
            &[&github_id, &window, &job],
        )
        .await?;
    Ok(row.map(|r| ScanClaim {
        login: r.get(0),
        since: r.get(1),
        last_full_scan_at: r.get(2),
    }))
}

/// A complete scan's end: the `since` the next one sends, and whether it
/// listed every gist.
pub async fn finish_scan(
    db: &impl Db,
    github_id: i64,
    since: Option<DateTime<Utc>>,
    full: bool,
) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE tracked_users SET since_at = $2, last_scan_at = now(), \
                 last_full_scan_at = CASE WHEN $3 THEN now() ELSE last_full_scan_at END \
             WHERE github_id = $1",
            &[&github_id, &since, &full],
        )
        .await?;
    Ok(())
}

/// One listed gist, as the scan stores it.
#[derive(Debug, Clone)]
pub struct GistRow {
    pub id: String,
    pub html_url: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub files: Vec<FileRow>,
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub filename: String,
    pub language: Option<String>,
    pub size: Option<i64>,
    pub raw_url: Option<String>,
}

/// Stores one page of a user's gists: gists upserted (a reappearing one is
/// no longer gone), new files inserted with an outbox row each, files of
/// these gists no longer listed marked gone. Returns how many files were new.
pub async fn record_gists(
    tx: &Transaction<'_>,
    owner_id: i64,
    gists: &[GistRow],
) -> Result<u64, StoreError> {
    tx.execute(
        &format!("SELECT pg_advisory_xact_lock({OWNER_LOCK})"),
        &[&owner_id],
    )
    .await?;
    let mut new_files = 0;
    for gist in gists {
        tx.execute(
            "INSERT INTO gists (id, owner_id, html_url, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET html_url = EXCLUDED.html_url, \
                 description = EXCLUDED.description, updated_at = EXCLUDED.updated_at, gone_at = NULL",
            &[
                &gist.id,
                &owner_id,
                &gist.html_url,
                &gist.description,
                &gist.created_at,
                &gist.updated_at,
            ],
        )
        .await?;
        let names: Vec<&str> = gist.files.iter().map(|f| f.filename.as_str()).collect();
        tx.execute(
            "UPDATE gist_files SET gone_at = now() \
             WHERE gist_id = $1 AND gone_at IS NULL AND NOT (filename = ANY($2))",
            &[&gist.id, &names],
        )
        .await?;
        for file in &gist.files {
            let inserted = tx
                .query_opt(
                    "INSERT INTO gist_files (gist_id, filename, owner_id, language, size, raw_url) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (gist_id, filename) DO UPDATE SET gone_at = NULL, \
                         language = EXCLUDED.language, size = EXCLUDED.size, raw_url = EXCLUDED.raw_url \
                     RETURNING (xmax = 0)",
                    &[
                        &gist.id,
                        &file.filename,
                        &owner_id,
                        &file.language,
                        &file.size,
                        &file.raw_url,
                    ],
                )
                .await?
                .is_some_and(|r| r.get::<_, bool>(0));
            if inserted {
                tx.execute(
                    "INSERT INTO gist_outbox (gist_id, filename, owner_id) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                    &[&gist.id, &file.filename, &owner_id],
                )
                .await?;
                new_files += 1;
            }
        }
    }
    Ok(new_files)
}

/// The owner's gists not marked gone, by id.
pub async fn live_gist_ids(db: &impl Db, owner_id: i64) -> Result<Vec<String>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT id FROM gists WHERE owner_id = $1 AND gone_at IS NULL",
            &[&owner_id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// After a scan that listed every gist: these are gone, with their files.
/// Rows stay.
pub async fn mark_gone(
    tx: &Transaction<'_>,
    owner_id: i64,
    gone: &[String],
) -> Result<u64, StoreError> {
    let n = tx
        .execute(
            "UPDATE gists SET gone_at = now() \
             WHERE owner_id = $1 AND gone_at IS NULL AND id = ANY($2)",
            &[&owner_id, &gone],
        )
        .await?;
    tx.execute(
        "UPDATE gist_files SET gone_at = now() \
         WHERE owner_id = $1 AND gist_id = ANY($2) AND gone_at IS NULL",
        &[&owner_id, &gone],
    )
    .await?;
    Ok(n)
}

/// A gist file as "what is new" lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFile {
    pub seq: i64,
    pub gist_id: String,
    pub filename: String,
    pub html_url: String,
    pub language: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub gone: bool,
    pub activity_id: Option<i64>,
}

/// Files first seen after `after_seq` (or after `since`), oldest first, at
/// most `limit`. Takes the owner's lock shared, so every earlier `seq` is
/// committed.
pub async fn files_after(
    tx: &Transaction<'_>,
    owner_id: i64,
    after_seq: i64,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<SeenFile>, StoreError> {
    tx.execute(
        &format!("SELECT pg_advisory_xact_lock_shared({OWNER_LOCK})"),
        &[&owner_id],
    )
    .await?;
    let rows = tx
        .query(
            "SELECT f.seq, f.gist_id, f.filename, g.html_url, f.language, f.first_seen_at, \
                 f.gone_at IS NOT NULL, f.activity_id \
             FROM gist_files f JOIN gists g ON g.id = f.gist_id \
             WHERE f.owner_id = $1 AND f.seq > $2 AND ($3::timestamptz IS NULL OR f.first_seen_at > $3) \
             ORDER BY f.seq LIMIT $4",
            &[&owner_id, &after_seq, &since, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SeenFile {
            seq: r.get(0),
            gist_id: r.get(1),
            filename: r.get(2),
            html_url: r.get(3),
            language: r.get(4),
            first_seen_at: r.get(5),
            gone: r.get(6),
            activity_id: r.get(7),
        })
        .collect())
}

/// A subscriber's visit: the files first seen since its previous visit (at
/// most `limit`; the rest next time), its cursor moved past them. Visits of
/// one subscriber serialise on its row, so two at once split the files.
pub async fn visit(
    tx: &Transaction<'_>,
    owner_id: i64,
    subscriber: &str,
    limit: i64,
) -> Result<Vec<SeenFile>, StoreError> {
    tx.execute(
        "INSERT INTO gist_visits (owner_id, subscriber) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&owner_id, &subscriber],
    )
    .await?;
    let cursor: i64 = tx
        .query_one(
            "SELECT cursor_seq FROM gist_visits WHERE owner_id = $1 AND subscriber = $2 FOR UPDATE",
            &[&owner_id, &subscriber],
        )
        .await?
        .get(0);
    let files = files_after(tx, owner_id, cursor, None, limit).await?;
    let last = files.last().map_or(cursor, |f| f.seq);
    tx.execute(
        "UPDATE gist_visits SET cursor_seq = $3, visited_at = now() \
         WHERE owner_id = $1 AND subscriber = $2",
        &[&owner_id, &subscriber, &last],
    )
    .await?;
    Ok(files)
}
