//! SQL on the developer graph that the discovery cases grow from the
//! simulator's `graph-seed`: a canonical dump to compare two discoveries,
//! the duplicate checks, and the wipe that lets a second discovery start
//! from nothing. Every query binds its values.
//!
//! The simulator numbers its graph apart from everything else it serves
//! (`services/sim/src/data/graph.rs`): accounts from 20,000,000 (the bot
//! and the suspended user at 29,000,001 and 29,000,002), repositories from
//! 30,000,000, owned by those accounts. Only those rows are dumped and
//! wiped, so the other cases' topics are left alone.

use std::fmt;

use anyhow::Context;
use tokio_postgres::Client;

/// First and last-plus-one GitHub id of the simulator's graph accounts.
pub const ACCOUNT_IDS: (i64, i64) = (20_000_000, 30_000_000);

/// Graph rows, one table at a time: the row count and the md5 of its rows
/// in key order. Left out are only the columns that say when or in which
/// order a row was written, not what GitHub holds: first and last seen,
/// synced and queued times, and a developer's depth (the follow steps from
/// the seed at which discovery first met it, which depends on which sync
/// ran first even without a fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub tables: Vec<(&'static str, i64, String)>,
}

impl Dump {
    pub fn rows(&self, table: &str) -> i64 {
        self.tables
            .iter()
            .find(|(name, _, _)| *name == table)
            .map_or(0, |(_, n, _)| *n)
    }

    /// The tables whose rows differ from `other`'s.
    pub fn differences(&self, other: &Dump) -> Vec<String> {
        self.tables
            .iter()
            .zip(&other.tables)
            .filter(|(a, b)| a != b)
            .map(|((name, n, _), (_, m, _))| format!("{name} ({n} rows vs {m})"))
            .collect()
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .tables
            .iter()
            .map(|(name, n, md5)| format!("{name} {n} md5 {}", &md5[..md5.len().min(8)]))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// The graph's accounts, as a condition on `column`.
fn graph_account(column: &str) -> String {
    format!(
        "{column} >= {} AND {column} < {}",
        ACCOUNT_IDS.0, ACCOUNT_IDS.1
    )
}

/// The graph's repositories: the ones its accounts own.
fn graph_repository(column: &str) -> String {
    format!(
        "{column} IN (SELECT id FROM repositories WHERE {})",
        graph_account("owner_id")
    )
}

/// (table, key order, columns left out, rows of the graph).
fn tables() -> [(&'static str, &'static str, &'static [&'static str], String); 8] {
    const SEEN: &[&str] = &["first_seen_at", "last_seen_at"];
    [
        (
            "developers",
            "id",
            &[
                "first_seen_at",
                "last_seen_at",
                "synced_at",
                "queued_at",
                "depth",
            ],
            graph_account("id"),
        ),
        (
            "developer_logins",
            "developer_id, login",
            SEEN,
            graph_account("developer_id"),
        ),
        (
            "follows",
            "follower_id, followee_id",
            &["first_seen_at"],
            format!(
                "{} OR {}",
                graph_account("follower_id"),
                graph_account("followee_id")
            ),
        ),
        (
            "stars",
            "developer_id, repository_id",
            &[],
            graph_account("developer_id"),
        ),
        ("owners", "id", SEEN, graph_account("id")),
        ("repositories", "id", SEEN, graph_account("owner_id")),
        (
            "star_history",
            "repository_id, week",
            &[],
            graph_repository("repository_id"),
        ),
        (
            "repository_graph",
            "repository_id",
            &["synced_at"],
            graph_repository("repository_id"),
        ),
    ]
}

/// The canonical dump of the graph as stored now.
pub async fn dump(db: &Client) -> anyhow::Result<Dump> {
    let mut out = Vec::new();
    for (table, order, skip, filter) in tables() {
        let minus: String = skip.iter().map(|c| format!(" - '{c}'")).collect();
        let order: Vec<String> = order.split(", ").map(|c| format!("x.{c}")).collect();
        let sql = format!(
            "SELECT count(*), md5(coalesce(string_agg((to_jsonb(x){minus})::text, E'\\n' \
             ORDER BY {}), '')) FROM {table} x WHERE {filter}",
            order.join(", ")
        );
        let row = db
            .query_one(&sql, &[])
            .await
            .with_context(|| format!("dumping {table}"))?;
        out.push((table, row.get::<_, i64>(0), row.get::<_, String>(1)));
    }
    Ok(Dump { tables: out })
}

/// Developers in each state (`known`, `synced`, `gone`).
pub async fn states(db: &Client) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(db
        .query(
            &format!(
                "SELECT state, count(*) FROM developers WHERE {} GROUP BY 1 ORDER BY 1",
                graph_account("id")
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Forgets the graph: its developers (with their logins, edges and stars),
/// its repositories (with their star history and stargazer state), their
/// owners, and the list pages the walker remembered for them (with those,
/// the next discovery would get 304s and reuse rows that are gone).
pub async fn wipe(db: &mut Client) -> anyhow::Result<()> {
    let tx = db.transaction().await?;
    tx.execute(
        &format!(
            "DELETE FROM repositories WHERE {}",
            graph_account("owner_id")
        ),
        &[],
    )
    .await?;
    tx.execute(
        &format!("DELETE FROM developers WHERE {}", graph_account("id")),
        &[],
    )
    .await?;
    tx.execute(
        &format!(
            "DELETE FROM owners o WHERE {} AND NOT EXISTS \
             (SELECT 1 FROM repositories r WHERE r.owner_id = o.id)",
            graph_account("o.id")
        ),
        &[],
    )
    .await?;
    // The graph's lists by login or id (the walker follows `Link` URLs
    // by id), and its repositories' stargazer lists and star history.
    tx.execute(
        "DELETE FROM github_pages WHERE \
         url ~ '/(users/[^/?]+|user/[0-9]+)/(followers|following|starred|repos)([?]|$)' \
         OR url ~ '/(repos/[^/?]+/[^/?]+|repositories/[0-9]+)/stargazers'",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Each duplicate check, as `what: rows found`; all must be 0. Most are
/// guarded by a key as well: the checks say so if a key were ever dropped.
/// `since` is the first job of the run whose syncs are counted.
pub async fn duplicates(db: &Client, since: i64) -> anyhow::Result<Vec<(&'static str, i64)>> {
    // (what, SQL, whether it counts from `since`)
    let checks = [
        (
            "developers holding one login",
            format!(
                "SELECT count(*) FROM (SELECT lower(login) FROM developers \
                 WHERE login_current AND {} GROUP BY 1 HAVING count(*) > 1) d",
                graph_account("id")
            ),
            false,
        ),
        (
            "repositories under one full name",
            format!(
                "SELECT count(*) FROM (SELECT lower(o.login), lower(r.name) FROM repositories r \
                 JOIN owners o ON o.id = r.owner_id WHERE {} GROUP BY 1, 2 HAVING count(*) > 1) d",
                graph_account("r.owner_id")
            ),
            false,
        ),
        (
            "developers synced by two jobs",
            "SELECT count(*) FROM (SELECT result->>'developer_id' FROM jobs \
             WHERE kind = 'sync_developer' AND id >= $1 AND status = 'succeeded' \
               AND result->>'developer_state' = 'synced' GROUP BY 1 HAVING count(*) > 1) d"
                .to_owned(),
            true,
        ),
        (
            "live jobs for one dedup key",
            "SELECT count(*) FROM (SELECT dedup_key FROM jobs \
             WHERE status IN ('queued', 'running', 'rescheduled') AND dedup_key IS NOT NULL \
             AND id >= $1 GROUP BY 1 HAVING count(*) > 1) d"
                .to_owned(),
            true,
        ),
        (
            "GitHub pages stored twice",
            "SELECT count(*) - count(DISTINCT (credential, media_type, url)) FROM github_pages"
                .to_owned(),
            false,
        ),
    ];
    let mut found = Vec::with_capacity(checks.len());
    for (what, sql, counts_from) in checks {
        let row = if counts_from {
            db.query_one(&sql, &[&since]).await
        } else {
            db.query_one(&sql, &[]).await
        };
        found.push((
            what,
            row.with_context(|| format!("duplicate check: {what}"))?
                .get(0),
        ));
    }
    Ok(found)
}

/// The run's jobs (from `since`) that more than one attempt ran: taken up
/// again after a kill, or retried after a fault.
pub async fn retaken(db: &Client, since: i64) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM jobs WHERE id >= $1 AND attempts > 1 \
             AND kind IN ('discover', 'sync_developer', 'sync_repository')",
            &[&since],
        )
        .await?
        .get(0))
}

/// The id the next job will have at least (to count a run's jobs).
pub async fn next_job(db: &Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one("SELECT coalesce(max(id), 0) + 1 FROM jobs", &[])
        .await?
        .get(0))
}

/// `owner/name` of the graph's `n` most starred repositories (ties by id).
pub async fn most_starred(db: &Client, n: i64) -> anyhow::Result<Vec<String>> {
    Ok(db
        .query(
            &format!(
                "SELECT o.login || '/' || r.name FROM repositories r JOIN owners o ON o.id = r.owner_id \
                 WHERE {} ORDER BY r.stargazers_count DESC, r.id LIMIT $1",
                graph_account("r.owner_id")
            ),
            &[&n],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
