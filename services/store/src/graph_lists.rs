//! The developer graph's reads: developers and repositories as filtered,
//! keyset-paged lists (never OFFSET: a page 10,000 deep costs what page 1
//! does, and rows inserted during a walk neither repeat nor hide rows),
//! their detail, followers, following, starred, stargazers and star
//! history. Every order is (value, id) with an index of its own (V10).

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use crate::{Db, StoreError};

/// Where a page starts: after (or, going back, before) the row whose sort
/// value (as text) and id these are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    pub key: String,
    pub id: i64,
    /// A `previous` cursor: the rows before it, in the list's order.
    pub before: bool,
}

impl Keyset {
    /// The opaque cursor the API gives out: hex of `a|b:id:key`. Here, not
    /// in the API, so the bench builds a deep page's cursor exactly so.
    pub fn cursor(&self) -> String {
        let dir = if self.before { 'b' } else { 'a' };
        hex::encode(format!("{dir}:{}:{}", self.id, self.key))
    }
}

/// One list order: the SQL of its sort value, that value's type, and
/// whether it runs high to low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub key: &'static str,
    pub cast: &'static str,
    pub descending: bool,
}

impl Order {
    pub const FOLLOWERS: Order = Order {
        key: "COALESCE(followers, -1)",
        cast: "int",
        descending: true,
    };
    pub const PUBLIC_REPOS: Order = Order {
        key: "COALESCE(public_repos, -1)",
        cast: "int",
        descending: true,
    };
    pub const DEV_CREATED: Order = Order {
        key: "COALESCE(created_at, '-infinity'::timestamptz)",
        cast: "timestamptz",
        descending: true,
    };
    pub const LOGIN: Order = Order {
        key: "lower(login)",
        cast: "text",
        descending: false,
    };
    pub const STARS: Order = Order {
        key: "stargazers_count",
        cast: "bigint",
        descending: true,
    };
    pub const REPO_CREATED: Order = Order {
        key: "created_at",
        cast: "timestamptz",
        descending: true,
    };
    pub const NAME: Order = Order {
        key: "lower(name)",
        cast: "text",
        descending: false,
    };

    pub fn reversed(self) -> Order {
        Order {
            descending: !self.descending,
            ..self
        }
    }
}

/// A filter: SQL with `$?` for its one value, or none.
pub struct Filter {
    pub sql: &'static str,
    pub value: Option<Box<dyn ToSql + Sync + Send>>,
}

impl Filter {
    pub fn with(sql: &'static str, value: impl ToSql + Sync + Send + 'static) -> Filter {
        Filter {
            sql,
            value: Some(Box::new(value)),
        }
    }

    pub fn bare(sql: &'static str) -> Filter {
        Filter { sql, value: None }
    }
}

/// `%` and `_` match themselves in a "contains" filter.
pub fn contains(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page of rows, each with its id and sort value as text (the cursors).
pub struct KeyPage<T> {
    pub rows: Vec<(T, i64, String)>,
    /// More rows lie beyond the page in the direction walked.
    pub more: bool,
}

/// Counts up to `bound` exactly; above it, the planner's estimate.
pub struct Count {
    pub value: i64,
    pub estimated: bool,
}

/// The filters as ` AND ...` clauses, their values numbered `$1`, `$2`, ...
/// in order, and those values as query parameters.
fn filter_sql(filters: &[Filter]) -> (String, Vec<&(dyn ToSql + Sync)>) {
    let mut sql = String::new();
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for f in filters {
        let n = match &f.value {
            Some(value) => {
                values.push(value.as_ref() as _);
                values.len()
            }
            None => 0,
        };
        sql.push_str(" AND ");
        sql.push_str(&f.sql.replace("$?", &format!("${n}")));
    }
    (sql, values)
}

/// What a list reads: a table (or view), aliased `t`, its columns and how
/// a row becomes a value.
pub struct Source<T> {
    pub table: &'static str,
    pub columns: &'static str,
    pub read: fn(&Row) -> T,
}

pub const DEVELOPERS: Source<DeveloperRow> = Source {
    table: "developers",
    columns: DEVELOPER_COLUMNS,
    read: developer_row,
};

pub const REPOSITORIES: Source<RepositoryRow> = Source {
    table: "repositories_view",
    columns: REPOSITORY_COLUMNS,
    read: repository_row,
};

/// One page of `source` in `order`, from `from`, `limit` rows.
pub async fn page<T>(
    db: &impl Db,
    source: &Source<T>,
    filters: &[Filter],
    order: Order,
    from: Option<&Keyset>,
    limit: i64,
) -> Result<KeyPage<T>, StoreError> {
    let walk = if from.is_some_and(|k| k.before) {
        order.reversed()
    } else {
        order
    };
    let (mut sql_where, mut params) = filter_sql(filters);
    if let Some(k) = from {
        let cmp = if walk.descending { "<" } else { ">" };
        let (a, b) = (params.len() + 1, params.len() + 2);
        sql_where.push_str(&format!(
            " AND ({key}, t.id) {cmp} (${a}::text::{cast}, ${b})",
            key = walk.key,
            cast = walk.cast
        ));
        params.push(&k.key);
        params.push(&k.id);
    }
    let dir = if walk.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {columns}, ({key})::text AS sort_key FROM {table} t WHERE true{sql_where} \
         ORDER BY {key} {dir}, t.id {dir} LIMIT {}",
        limit + 1,
        key = walk.key,
        columns = source.columns,
        table = source.table,
    );
    let rows = db.client().query(&sql, &params).await?;
    let more = rows.len() as i64 > limit;
    let mut rows: Vec<(T, i64, String)> = rows
        .iter()
        .take(limit as usize)
        .map(|r| ((source.read)(r), r.get("id"), r.get(r.len() - 1)))
        .collect();
    if from.is_some_and(|k| k.before) {
        rows.reverse();
    }
    Ok(KeyPage { rows, more })
}

/// An estimate this many times the bound is trusted without counting.
pub const TRUSTED_ESTIMATE: i64 = 10;

/// How many rows match: exact up to `bound`, else the planner's estimate.
/// The estimate comes first (a plan, no rows read): at ten times the bound
/// or more it is the answer, since counting `bound` matching rows to learn
/// that there are more costs a scan on every page (tens of milliseconds at
/// a million rows). Below that, the count is exact up to the bound.
pub async fn count(
    db: &impl Db,
    table: &'static str,
    filters: &[Filter],
    bound: i64,
) -> Result<Count, StoreError> {
    let (sql_where, refs) = filter_sql(filters);
    let plan: serde_json::Value = db
        .client()
        .query_one(
            &format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} t WHERE true{sql_where}"),
            &refs,
        )
        .await?
        .get(0);
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as i64;
    if estimate >= bound.saturating_mul(TRUSTED_ESTIMATE) {
        return Ok(Count {
            value: estimate,
            estimated: true,
        });
    }
    let exact: i64 = db
        .client()
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} t WHERE true{sql_where} LIMIT {}) s",
                bound + 1
            ),
            &refs,
        )
        .await?
        .get(0);
    if exact <= bound {
        return Ok(Count {
            value: exact,
            estimated: false,
        });
    }
    Ok(Count {
        value: estimate.max(bound + 1),
        estimated: true,
    })
}

/// A page of ids related to `id` through `sql` (which selects `rel_id`
/// and takes `$1` = id, `$2` = after, `$3` = limit), ascending by id.
pub async fn related_ids(
    db: &impl Db,
    sql: &str,
    id: i64,
    after: i64,
    limit: i64,
) -> Result<(Vec<(i64, Option<DateTime<Utc>>)>, bool), StoreError> {
    let rows = db.client().query(sql, &[&id, &after, &(limit + 1)]).await?;
    let more = rows.len() as i64 > limit;
    Ok((
        rows.iter()
            .take(limit as usize)
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        more,
    ))
}

pub const FOLLOWERS_OF: &str = "SELECT follower_id, NULL::timestamptz FROM follows \
     WHERE followee_id = $1 AND follower_id > $2 ORDER BY follower_id LIMIT $3";
pub const FOLLOWING_OF: &str = "SELECT followee_id, NULL::timestamptz FROM follows \
     WHERE follower_id = $1 AND followee_id > $2 ORDER BY followee_id LIMIT $3";
pub const STARRED_BY: &str = "SELECT repository_id, starred_at FROM stars \
     WHERE developer_id = $1 AND repository_id > $2 ORDER BY repository_id LIMIT $3";
pub const STARGAZERS_OF: &str = "SELECT developer_id, starred_at FROM stars \
     WHERE repository_id = $1 AND developer_id > $2 ORDER BY developer_id LIMIT $3";

/// Rows of `table` by id, in the order of `ids`.
pub async fn rows_by_ids<T>(
    db: &impl Db,
    table: &'static str,
    columns: &str,
    ids: &[i64],
    read: fn(&Row) -> T,
) -> Result<Vec<T>, StoreError> {
    let rows = db
        .client()
        .query(
            &format!("SELECT {columns} FROM {table} t WHERE t.id = ANY($1)"),
            &[&ids],
        )
        .await?;
    let mut by_id: std::collections::HashMap<i64, Row> = rows
        .into_iter()
        .map(|r| (r.get::<_, i64>("id"), r))
        .collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|r| read(&r))
        .collect())
}

/// A repository's weekly star history, oldest week first.
pub async fn star_history(
    db: &impl Db,
    repository_id: i64,
) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
    let rows = db
        .client()
        .query(
            "SELECT week, total FROM star_history WHERE repository_id = $1 ORDER BY week",
            &[&repository_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A developer as the lists show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeveloperRow {
    pub id: i64,
    pub login: String,
    pub kind: String,
    pub avatar_url: Option<String>,
    pub html_url: Option<String>,
    pub name: Option<String>,
    pub company: Option<String>,
    pub blog: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub hireable: Option<bool>,
    pub public_repos: Option<i32>,
    pub followers: Option<i32>,
    pub following: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    pub state: String,
    pub depth: i32,
    pub synced_at: Option<DateTime<Utc>>,
    pub truncated: Vec<String>,
}

pub const DEVELOPER_COLUMNS: &str = "t.id, t.login, t.kind, t.avatar_url, t.html_url, t.name, \
     t.company, t.blog, t.location, t.bio, t.hireable, t.public_repos, t.followers, t.following, \
     t.created_at, t.state, t.depth, t.synced_at, t.truncated";

pub fn developer_row(r: &Row) -> DeveloperRow {
    DeveloperRow {
        id: r.get(0),
        login: r.get(1),
        kind: r.get(2),
        avatar_url: r.get(3),
        html_url: r.get(4),
        name: r.get(5),
        company: r.get(6),
        blog: r.get(7),
        location: r.get(8),
        bio: r.get(9),
        hireable: r.get(10),
        public_repos: r.get(11),
        followers: r.get(12),
        following: r.get(13),
        created_at: r.get(14),
        state: r.get(15),
        depth: r.get(16),
        synced_at: r.get(17),
        truncated: r.get(18),
    }
}

/// A repository as the lists show it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryRow {
    pub id: i64,
    pub owner_id: i64,
    pub owner_login: String,
    pub name: String,
    pub description: Option<String>,
    pub language: Option<String>,
    pub stargazers_count: i64,
    pub forks_count: i64,
    pub html_url: String,
    pub fork: bool,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub stargazers: String,
}

/// Read from `repositories_view` (the table with its owner's login and
/// stargazer state), aliased `t` like the others.
pub const REPOSITORY_COLUMNS: &str = "t.id, t.owner_id, t.owner_login, t.name, t.description, \
     t.language, t.stargazers_count, t.forks_count, t.html_url, t.fork, t.archived, \
     t.created_at, t.pushed_at, t.stargazers";

pub fn repository_row(r: &Row) -> RepositoryRow {
    RepositoryRow {
        id: r.get(0),
        owner_id: r.get(1),
        owner_login: r.get(2),
        name: r.get(3),
        description: r.get(4),
        language: r.get(5),
        stargazers_count: r.get(6),
        forks_count: r.get(7),
        html_url: r.get(8),
        fork: r.get(9),
        archived: r.get(10),
        created_at: r.get(11),
        pushed_at: r.get(12),
        stargazers: r.get(13),
    }
}

/// A developer by current login (else a former one), or by id.
pub async fn developer(
    db: &impl Db,
    login: Option<&str>,
    id: Option<i64>,
) -> Result<Option<DeveloperRow>, StoreError> {
    let row = db
        .client()
        .query_opt(
            &format!(
                "SELECT {DEVELOPER_COLUMNS} FROM developers t WHERE t.id = COALESCE($2, \
                   (SELECT id FROM developers WHERE lower(login) = lower($1) AND login_current), \
                   (SELECT developer_id FROM developer_logins WHERE lower(login) = lower($1) \
                    ORDER BY last_seen_at DESC LIMIT 1))"
            ),
            &[&login, &id],
        )
        .await?;
    Ok(row.as_ref().map(developer_row))
}

/// A repository by `owner/name` (else a former full name), or by id.
pub async fn repository(
    db: &impl Db,
    full_name: Option<&str>,
    id: Option<i64>,
) -> Result<Option<RepositoryRow>, StoreError> {
    let row = db
        .client()
        .query_opt(
            &format!(
                "SELECT {REPOSITORY_COLUMNS} FROM repositories_view t WHERE t.id = COALESCE($2, \
                   (SELECT id FROM repositories_view \
                    WHERE lower(owner_login || '/' || name) = lower($1) LIMIT 1), \
                   (SELECT repository_id FROM repository_graph \
                    WHERE lower($1) = ANY(former_names) LIMIT 1))"
            ),
            &[&full_name, &id],
        )
        .await?;
    Ok(row.as_ref().map(repository_row))
}
