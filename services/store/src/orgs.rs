//! Tracked owners (organisations or users) and their repositories'
//! contributor statistics: each repository's statistics state, the first
//! week of every contributor, and `contributor_first_month`, kept
//! incrementally. The repositories themselves are the shared rows of
//! [`crate::repositories::upsert`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tokio_postgres::{GenericClient, Transaction};

use crate::{Db, StoreError};

/// A tracked owner and what its last sync found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedOwner {
    /// Lower case, as tracked.
    pub login: String,
    pub owner_id: Option<i64>,
    pub repositories: i64,
    pub created_at: DateTime<Utc>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// The tracked owners by login.
pub async fn tracked(db: &impl Db) -> Result<Vec<TrackedOwner>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT t.login, t.owner_id, t.created_at, t.last_synced_at, \
                 (SELECT count(*) FROM repositories r WHERE r.owner_id = t.owner_id) \
             FROM tracked_owners t ORDER BY t.login",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| TrackedOwner {
            login: row.get(0),
            owner_id: row.get(1),
            created_at: row.get(2),
            last_synced_at: row.get(3),
            repositories: row.get(4),
        })
        .collect())
}

/// Tracks an owner by login (stored lower case); true when it was new.
pub async fn track(db: &impl Db, login: &str) -> Result<bool, StoreError> {
    let n = db
        .client()
        .execute(
            "INSERT INTO tracked_owners (login) VALUES (lower($1)) ON CONFLICT DO NOTHING",
            &[&login],
        )
        .await?;
    Ok(n == 1)
}

/// Stops tracking an owner; true when it was tracked. Its repositories and
/// statistics stay (other crawls may share them).
pub async fn untrack(db: &impl Db, login: &str) -> Result<bool, StoreError> {
    let n = db
        .client()
        .execute(
            "DELETE FROM tracked_owners WHERE login = lower($1)",
            &[&login],
        )
        .await?;
    Ok(n == 1)
}

/// Whether an owner is tracked.
pub async fn is_tracked(db: &impl Db, login: &str) -> Result<bool, StoreError> {
    let row = db
        .client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tracked_owners WHERE login = lower($1))",
            &[&login],
        )
        .await?;
    Ok(row.get(0))
}

/// Records a finished repository sync: the owner's GitHub id (from its
/// repositories) and when.
pub async fn synced(db: &impl Db, login: &str, owner_id: Option<i64>) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE tracked_owners SET owner_id = coalesce($2, owner_id), last_synced_at = now() \
             WHERE login = lower($1)",
            &[&login, &owner_id],
        )
        .await?;
    Ok(())
}

/// Statistics rows for repositories that have none yet (`pending`).
pub async fn ensure_stats(db: &impl Db, repository_ids: &[i64]) -> Result<(), StoreError> {
    if repository_ids.is_empty() {
        return Ok(());
    }
    db.client()
        .execute(
            "INSERT INTO repository_stats (repository_id) SELECT unnest($1::bigint[]) \
             ON CONFLICT DO NOTHING",
            &[&repository_ids],
        )
        .await?;
    Ok(())
}

/// Where a repository's statistics stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsState {
    Pending,
    /// GitHub answered 202: asked again later.
    Computing,
    Ready,
    /// 204: an empty repository.
    Empty,
    /// Still 202 after every ask the backoff allowed.
    Unavailable,
}

impl StatsState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Computing => "computing",
            Self::Ready => "ready",
            Self::Empty => "empty",
            Self::Unavailable => "unavailable",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        Ok(match raw {
            "pending" => Self::Pending,
            "computing" => Self::Computing,
            "ready" => Self::Ready,
            "empty" => Self::Empty,
            "unavailable" => Self::Unavailable,
            other => {
                return Err(StoreError::Database(format!(
                    "unknown statistics state {other:?}"
                )));
            }
        })
    }
}

/// What a statistics job needs of its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsTarget {
    pub owner: String,
    pub name: String,
    pub state: StatsState,
    pub attempts: i32,
    pub body_hash: Option<String>,
}

pub async fn stats_target(
    db: &impl Db,
    repository_id: i64,
) -> Result<Option<StatsTarget>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT o.login, r.name, coalesce(s.state, 'pending'), coalesce(s.attempts, 0), \
                 s.body_hash \
             FROM repositories r JOIN owners o ON o.id = r.owner_id \
             LEFT JOIN repository_stats s ON s.repository_id = r.id WHERE r.id = $1",
            &[&repository_id],
        )
        .await?;
    row.map(|row| {
        Ok(StatsTarget {
            owner: row.get(0),
            name: row.get(1),
            state: StatsState::parse(row.get(2))?,
            attempts: row.get(3),
            body_hash: row.get(4),
        })
    })
    .transpose()
}

/// Sets a repository's state and 202 count, leaving its contributions.
pub async fn set_state(
    db: &impl Db,
    repository_id: i64,
    state: StatsState,
    attempts: i32,
) -> Result<(), StoreError> {
    db.client()
        .execute(
            "INSERT INTO repository_stats (repository_id, state, attempts) VALUES ($1, $2, $3) \
             ON CONFLICT (repository_id) DO UPDATE SET state = EXCLUDED.state, \
                 attempts = EXCLUDED.attempts, updated_at = now()",
            &[&repository_id, &state.as_str(), &attempts],
        )
        .await?;
    Ok(())
}

/// One contributor's first week with commits (its Sunday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstWeek {
    pub login: String,
    pub week: NaiveDate,
}

/// The statistics of one 200, reduced to what is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributions<'a> {
    /// By contributor id.
    pub first_weeks: &'a BTreeMap<i64, FirstWeek>,
    pub anonymous_commits: i64,
    pub body_hash: &'a str,
}

/// What applying a repository's statistics wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Contributors whose first week was added, moved or removed.
    pub contributors_changed: u64,
    /// `contributor_first_month` rows inserted, updated or deleted.
    pub months_written: u64,
}

/// The calendar month a week counts in: its Sunday's.
pub fn month_of(week: NaiveDate) -> NaiveDate {
    week.with_day(1).unwrap_or(week)
}

/// Replaces a repository's first weeks with `stats` (state `ready`), writing
/// only the contributors whose first week changed and recounting only the
/// months those weeks fall in: a month whose set did not change is not
/// touched.
pub async fn apply_contributions(
    tx: &Transaction<'_>,
    repository_id: i64,
    stats: &Contributions<'_>,
) -> Result<Applied, StoreError> {
    let rows = tx
        .query(
            "SELECT contributor_id, first_week FROM contributor_first_week \
             WHERE repository_id = $1",
            &[&repository_id],
        )
        .await?;
    let before: BTreeMap<i64, NaiveDate> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut months = BTreeSet::new();
    let (mut ids, mut logins, mut weeks) = (Vec::new(), Vec::new(), Vec::new());
    for (id, first) in stats.first_weeks {
        match before.get(id) {
            Some(old) if *old == first.week => {}
            old => {
                months.extend(old.map(|w| month_of(*w)));
                months.insert(month_of(first.week));
                ids.push(*id);
                logins.push(first.login.as_str());
                weeks.push(first.week);
            }
        }
    }
    let gone: Vec<i64> = before
        .iter()
        .filter(|(id, _)| !stats.first_weeks.contains_key(id))
        .map(|(id, week)| {
            months.insert(month_of(*week));
            *id
        })
        .collect();
    if !ids.is_empty() {
        tx.execute(
            "INSERT INTO contributor_first_week (repository_id, contributor_id, login, first_week) \
             SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::date[]) \
             ON CONFLICT (repository_id, contributor_id) DO UPDATE \
                 SET login = EXCLUDED.login, first_week = EXCLUDED.first_week",
            &[&repository_id, &ids, &logins, &weeks],
        )
        .await?;
    }
    if !gone.is_empty() {
        tx.execute(
            "DELETE FROM contributor_first_week WHERE repository_id = $1 AND contributor_id = ANY($2)",
            &[&repository_id, &gone],
        )
        .await?;
    }
    let months_written = recount_months(tx, repository_id, &months).await?;
    tx.execute(
        "INSERT INTO repository_stats (repository_id, state, attempts, body_hash, \
             anonymous_commits, contributors) VALUES ($1, 'ready', 0, $2, $3, $4) \
         ON CONFLICT (repository_id) DO UPDATE SET state = 'ready', attempts = 0, \
             body_hash = EXCLUDED.body_hash, anonymous_commits = EXCLUDED.anonymous_commits, \
             contributors = EXCLUDED.contributors, updated_at = now()",
        &[
            &repository_id,
            &stats.body_hash,
            &stats.anonymous_commits,
            &(stats.first_weeks.len() as i32),
        ],
    )
    .await?;
    Ok(Applied {
        contributors_changed: (ids.len() + gone.len()) as u64,
        months_written,
    })
}

/// An empty repository (204): no contributors, state `empty`.
pub async fn apply_empty(tx: &Transaction<'_>, repository_id: i64) -> Result<Applied, StoreError> {
    let gone = tx
        .execute(
            "DELETE FROM contributor_first_week WHERE repository_id = $1",
            &[&repository_id],
        )
        .await?;
    let months = tx
        .execute(
            "DELETE FROM contributor_first_month WHERE repository_id = $1",
            &[&repository_id],
        )
        .await?;
    tx.execute(
        "INSERT INTO repository_stats (repository_id, state, attempts, body_hash, \
             anonymous_commits, contributors) VALUES ($1, 'empty', 0, NULL, 0, 0) \
         ON CONFLICT (repository_id) DO UPDATE SET state = 'empty', attempts = 0, \
             body_hash = NULL, anonymous_commits = 0, contributors = 0, updated_at = now()",
        &[&repository_id],
    )
    .await?;
    Ok(Applied {
        contributors_changed: gone,
        months_written: months,
    })
}

/// Recounts `months` of a repository from its first weeks: a row per month
/// with contributors, none without; a count that did not change is not
/// rewritten. Returns the rows inserted, updated or deleted.
async fn recount_months(
    tx: &Transaction<'_>,
    repository_id: i64,
    months: &BTreeSet<NaiveDate>,
) -> Result<u64, StoreError> {
    if months.is_empty() {
        return Ok(0);
    }
    let months: Vec<NaiveDate> = months.iter().copied().collect();
    let counted = "SELECT m.month, count(f.contributor_id)::int AS n \
         FROM unnest($2::date[]) AS m(month) \
         LEFT JOIN contributor_first_week f ON f.repository_id = $1 \
             AND date_trunc('month', f.first_week)::date = m.month \
         GROUP BY m.month";
    let deleted = tx
        .execute(
            &format!(
                "DELETE FROM contributor_first_month t USING ({counted}) c \
                 WHERE t.repository_id = $1 AND t.month = c.month AND c.n = 0"
            ),
            &[&repository_id, &months],
        )
        .await?;
    let written = tx
        .execute(
            &format!(
                "INSERT INTO contributor_first_month (repository_id, month, new_contributors) \
                 SELECT $1, month, n FROM ({counted}) c WHERE n > 0 \
                 ON CONFLICT (repository_id, month) DO UPDATE \
                     SET new_contributors = EXCLUDED.new_contributors, updated_at = now() \
                 WHERE contributor_first_month.new_contributors <> EXCLUDED.new_contributors"
            ),
            &[&repository_id, &months],
        )
        .await?;
    Ok(deleted + written)
}

/// One row of an owner's first-time contributors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRow {
    /// `owner/name`.
    pub repo_name: String,
    pub month: NaiveDate,
    pub new_contributors: i32,
}

/// A filter and page of [`new_contributors`].
#[derive(Debug, Clone, Default)]
pub struct MonthQuery<'a> {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// A repository name (without the owner), case-insensitive.
    pub repo: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
}

/// An owner's first-time contributors per repository and month, ordered
/// by (month, repository name, id), with the count of all matching rows.
pub async fn new_contributors(
    db: &impl Db,
    login: &str,
    query: &MonthQuery<'_>,
) -> Result<(i64, Vec<MonthRow>), StoreError> {
    let filter = "FROM contributor_first_month m \
         JOIN repositories r ON r.id = m.repository_id \
         JOIN owners o ON o.id = r.owner_id \
         JOIN tracked_owners t ON t.owner_id = o.id AND t.login = lower($1) \
         WHERE ($2::date IS NULL OR m.month >= $2) AND ($3::date IS NULL OR m.month <= $3) \
             AND ($4::text IS NULL OR lower(r.name) = lower($4))";
    let client = db.client();
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) {filter}"),
            &[&login, &query.from, &query.to, &query.repo],
        )
        .await?
        .get(0);
    let rows = client
        .query(
            &format!(
                "SELECT o.login || '/' || r.name, m.month, m.new_contributors {filter} \
                 ORDER BY m.month, lower(r.name), r.id LIMIT $5 OFFSET $6"
            ),
            &[
                &login,
                &query.from,
                &query.to,
                &query.repo,
                &query.limit,
                &query.offset,
            ],
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|row| MonthRow {
            repo_name: row.get(0),
            month: row.get(1),
            new_contributors: row.get(2),
        })
        .collect();
    Ok((total, items))
}

/// The owner's repositories (`owner/name`) whose statistics are in `state`.
pub async fn repositories_in_state(
    db: &impl Db,
    login: &str,
    state: StatsState,
) -> Result<Vec<String>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT o.login || '/' || r.name FROM repository_stats s \
             JOIN repositories r ON r.id = s.repository_id \
             JOIN owners o ON o.id = r.owner_id \
             JOIN tracked_owners t ON t.owner_id = o.id AND t.login = lower($1) \
             WHERE s.state = $2 ORDER BY lower(r.name), r.id",
            &[&login, &state.as_str()],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Repositories by statistics state, over every tracked owner (metrics).
pub async fn state_counts(db: &impl Db) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT state, count(*) FROM repository_stats GROUP BY state ORDER BY state",
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// An owner's first-time contributors per month, over all its repositories
/// (or the one `query.repo` names), oldest month first; `limit` and
/// `offset` are not used.
pub async fn monthly_totals(
    db: &impl Db,
    login: &str,
    query: &MonthQuery<'_>,
) -> Result<Vec<(NaiveDate, i64)>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT m.month, sum(m.new_contributors)::bigint \
             FROM contributor_first_month m \
             JOIN repositories r ON r.id = m.repository_id \
             JOIN tracked_owners t ON t.owner_id = r.owner_id AND t.login = lower($1) \
             WHERE ($2::date IS NULL OR m.month >= $2) AND ($3::date IS NULL OR m.month <= $3) \
                 AND ($4::text IS NULL OR lower(r.name) = lower($4)) \
             GROUP BY m.month ORDER BY m.month",
            &[&login, &query.from, &query.to, &query.repo],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}
