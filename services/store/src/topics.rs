//! Tracked topics and the rows the cached views are built from.

use chrono::{DateTime, Utc};
use hubpulse_domain::{Topic, VIEW_SIZE, ViewItem, ViewKind};

use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

/// A tracked topic and how many repositories it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedTopic {
    pub name: Topic,
    pub repositories: i64,
    pub created_at: DateTime<Utc>,
}

fn topic_from_db(raw: String) -> Result<Topic, StoreError> {
    Topic::parse(&raw)
        .map_err(|e| StoreError::Database(format!("stored topic {raw:?} is invalid: {e}")))
}

/// The tracked topics by name, each with its member count: the count kept
/// by the writes to `repository_topics` (V7's triggers), so a call reads one
/// row per topic whatever the topics hold.
pub async fn tracked(db: &impl Db) -> Result<Vec<TrackedTopic>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT t.name, t.created_at, t.member_count \
             FROM topics t WHERE t.tracked ORDER BY t.name",
            &[],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(TrackedTopic {
                name: topic_from_db(row.get(0))?,
                created_at: row.get(1),
                repositories: row.get(2),
            })
        })
        .collect()
}

/// Tracks a topic; true when it was not tracked before.
pub async fn track(db: &impl Db, topic: &Topic) -> Result<bool, StoreError> {
    let row = db
        .client()
        .query_one(
            "WITH before AS (SELECT tracked FROM topics WHERE name = $1) \
             INSERT INTO topics (name, tracked) VALUES ($1, true) \
             ON CONFLICT (name) DO UPDATE SET tracked = true \
             RETURNING (SELECT coalesce(bool_or(tracked), false) FROM before)",
            &[&topic.as_str()],
        )
        .await?;
    let was_tracked: bool = row.get(0);
    Ok(!was_tracked)
}

/// Stops tracking; the crawled rows stay (other topics may share them).
pub async fn untrack(db: &impl Db, topic: &Topic) -> Result<bool, StoreError> {
    let n = db
        .client()
        .execute(
            "UPDATE topics SET tracked = false WHERE name = $1 AND tracked",
            &[&topic.as_str()],
        )
        .await?;
    Ok(n == 1)
}

/// The names of the tracked topics, and nothing else: cheap enough for a
/// reader's periodic snapshot.
pub async fn tracked_names(db: &impl Db) -> Result<Vec<String>, StoreError> {
    let rows = db
        .client()
        .query("SELECT name FROM topics WHERE tracked", &[])
        .await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

/// Whether the topic is tracked now.
pub async fn is_tracked(db: &impl Db, topic: &Topic) -> Result<bool, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT tracked FROM topics WHERE name = $1",
            &[&topic.as_str()],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// The topic's id, tracked or not; `None` when it was never tracked.
pub async fn id(db: &impl Db, topic: &Topic) -> Result<Option<i64>, StoreError> {
    let row = db
        .client()
        .query_opt("SELECT id FROM topics WHERE name = $1", &[&topic.as_str()])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Makes the repositories members of the topic (already members stay).
/// The repositories must be stored.
pub async fn add_members(
    db: &impl Db,
    topic_id: i64,
    repository_ids: &[i64],
) -> Result<(), StoreError> {
    if repository_ids.is_empty() {
        return Ok(());
    }
    db.client()
        .execute(
            "INSERT INTO repository_topics (topic_id, repository_id) \
             SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
            &[&topic_id, &repository_ids],
        )
        .await?;
    Ok(())
}

/// Refreshes the planner's statistics of `repository_topics` when one
/// topic alone holds more members than they say the whole table has, and
/// says whether it did. That is a first crawl of a large topic: the rows
/// arrive within seconds, before autovacuum's next look (a minute), and the
/// topic's view queries, run right after, were planned for an empty table.
/// `ANALYZE` samples at most 30,000 rows of this narrow table (10 ms for
/// 20,000 here); in steady state the estimate is above every topic's count
/// and nothing runs.
pub async fn refresh_member_statistics(db: &impl Db, topic_id: i64) -> Result<bool, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT t.member_count > c.reltuples \
             FROM topics t, pg_class c \
             WHERE t.id = $1 AND c.oid = 'repository_topics'::regclass",
            &[&topic_id],
        )
        .await?;
    let stale: bool = row.get(0);
    if stale {
        db.client()
            .batch_execute("ANALYZE repository_topics")
            .await?;
    }
    Ok(stale)
}

/// A view's items: the first [`VIEW_SIZE`] of a topic's repositories in
/// the view's order, ties by id.
///
/// The topic's id goes into the query as a value, not through a join on
/// its name, so the planner reads how many members that topic has from the
/// statistics of `repository_topics` (see [`refresh_member_statistics`]):
/// estimated from a join, a 20,000-member topic planned as a hundred rows,
/// 20,000 index probes per join, 160 ms for what takes 4.
pub async fn view_items(
    db: &impl Db,
    topic: &Topic,
    kind: ViewKind,
) -> Result<Vec<ViewItem>, StoreError> {
    let Some(topic_id) = id(db, topic).await? else {
        return Ok(Vec::new());
    };
    let order_by = match kind {
        ViewKind::ByName => "lower(o.login), lower(r.name), r.id",
        ViewKind::Popularity => "r.stargazers_count DESC, r.id",
        ViewKind::Activity => "r.pushed_at DESC NULLS LAST, r.id",
    };
    let limit = VIEW_SIZE as i64;
    let rows = db
        .client()
        .query(
            &format!(
                "SELECT r.id, r.name, o.login, r.html_url, r.description, r.homepage, r.language, l.spdx_id, \
                     r.stargazers_count, r.forks_count, r.open_issues_count, r.archived, \
                     r.created_at, r.updated_at, r.pushed_at \
                 FROM repository_topics rt \
                 JOIN repositories r ON r.id = rt.repository_id \
                 JOIN owners o ON o.id = r.owner_id \
                 LEFT JOIN licenses l ON l.key = r.license_key \
                 WHERE rt.topic_id = $1 \
                 ORDER BY {order_by} LIMIT $2"
            ),
            &[&topic_id, &limit],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let name: String = row.get(1);
            let owner: String = row.get(2);
            ViewItem {
                id: row.get(0),
                full_name: format!("{owner}/{name}"),
                name,
                owner,
                html_url: row.get(3),
                description: row.get(4),
                homepage: row.get(5),
                language: row.get(6),
                license: row.get(7),
                stargazers_count: row.get(8),
                forks_count: row.get(9),
                open_issues_count: row.get(10),
                archived: row.get(11),
                created_at: row.get(12),
                updated_at: row.get(13),
                pushed_at: row.get(14),
            }
        })
        .collect())
}
