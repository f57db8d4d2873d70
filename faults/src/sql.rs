//! SQL checks on what the crawls left in Postgres. Every query binds its
//! values; nothing is spliced into the SQL text.

use std::fmt;

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to the stack's Postgres")?;
    tokio::spawn(async move {
        // Ends when the client is dropped or Postgres goes away.
        let _ = connection.await;
    });
    Ok(client)
}

/// A topic's rows, each table as a count and the md5 of its rows in id
/// order. Only the bookkeeping timestamps (`first_seen_at`, `last_seen_at`)
/// are left out: they say when a row was written, not what GitHub holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub repositories: (i64, String),
    pub owners: (i64, String),
    pub licenses: (i64, String),
    pub memberships: (i64, String),
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short =
            |(n, md5): &(i64, String)| format!("{n} rows md5 {}", &md5[..md5.len().min(12)]);
        write!(
            f,
            "repositories {}, owners {}, licenses {}, memberships {}",
            short(&self.repositories),
            short(&self.owners),
            short(&self.licenses),
            short(&self.memberships)
        )
    }
}

const MEMBERS: &str = "SELECT rt.repository_id FROM repository_topics rt \
     JOIN topics t ON t.id = rt.topic_id WHERE t.name = $1";

pub async fn checksum(db: &Client, topic: &str) -> anyhow::Result<Checksum> {
    let rows = |table: &str, filter: String| {
        format!(
            "SELECT count(*), md5(coalesce(string_agg((to_jsonb(x) - 'first_seen_at' - 'last_seen_at')::text, \
             E'\\n' ORDER BY x.{key}), '')) FROM {table} x WHERE x.{key} IN ({filter})",
            key = if table == "licenses" { "key" } else { "id" },
        )
    };
    let repositories = rows("repositories", MEMBERS.to_owned());
    let owners = rows(
        "owners",
        format!("SELECT owner_id FROM repositories WHERE id IN ({MEMBERS})"),
    );
    let licenses = rows(
        "licenses",
        format!("SELECT license_key FROM repositories WHERE id IN ({MEMBERS})"),
    );
    let memberships = format!(
        "SELECT count(*), md5(coalesce(string_agg(repository_id::text, ',' ORDER BY repository_id), '')) \
         FROM ({MEMBERS}) m"
    );
    let mut out = Vec::with_capacity(4);
    for sql in [repositories, owners, licenses, memberships] {
        let row = db
            .query_one(&sql, &[&topic])
            .await
            .with_context(|| format!("checksum of {topic}"))?;
        out.push((row.get::<_, i64>(0), row.get::<_, String>(1)));
    }
    let mut out = out.into_iter();
    let mut next = || out.next().unwrap_or_default();
    Ok(Checksum {
        repositories: next(),
        owners: next(),
        licenses: next(),
        memberships: next(),
    })
}

/// Overwrites a topic's rows with wrong values and forgets its crawl pages
/// and memberships, so the next crawl must write every row again to get
/// back to the checksum of a good crawl.
pub async fn scramble(db: &mut Client, topic: &str) -> anyhow::Result<u64> {
    let tx = db.transaction().await?;
    let members: Vec<i64> = tx
        .query(MEMBERS, &[&topic])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.execute(
        "UPDATE owners SET login = 'overwritten-' || id \
         WHERE id IN (SELECT owner_id FROM repositories WHERE id = ANY($1))",
        &[&members],
    )
    .await?;
    tx.execute(
        "UPDATE repositories SET stargazers_count = -1, pushed_at = NULL, \
             description = 'overwritten by the fault suite' WHERE id = ANY($1)",
        &[&members],
    )
    .await?;
    tx.execute(
        "DELETE FROM repository_topics WHERE topic_id = (SELECT id FROM topics WHERE name = $1)",
        &[&topic],
    )
    .await?;
    // The ETag memory: with it, the crawl would get 304s and reuse the
    // (now deleted) memberships instead of fetching the pages again.
    tx.execute(
        "DELETE FROM github_pages WHERE strpos(url, $1) > 0",
        &[&format!("topic%3A{topic}")],
    )
    .await?;
    tx.execute(
        "DELETE FROM github_pages WHERE strpos(url, $1) > 0",
        &[&format!("topic:{topic}")],
    )
    .await?;
    tx.commit().await?;
    Ok(members.len() as u64)
}

/// Each duplicate check, as `what: rows found`; all must be 0. Most are
/// guarded by a key as well: the checks say so if a key were ever dropped.
pub async fn duplicates(db: &Client, topic: &str) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let per_topic = format!("SELECT count(*) - count(DISTINCT repository_id) FROM ({MEMBERS}) m");
    let global = [
        (
            "repositories under one full name",
            "SELECT count(*) FROM (SELECT lower(o.login), lower(r.name) FROM repositories r \
             JOIN owners o ON o.id = r.owner_id GROUP BY 1, 2 HAVING count(*) > 1) d",
        ),
        (
            "live jobs for one dedup key",
            "SELECT count(*) FROM (SELECT dedup_key FROM jobs \
             WHERE status IN ('queued', 'running', 'rescheduled') AND dedup_key IS NOT NULL \
             GROUP BY 1 HAVING count(*) > 1) d",
        ),
        (
            "GitHub pages stored twice",
            "SELECT count(*) - count(DISTINCT (credential, media_type, url)) FROM github_pages",
        ),
    ];
    let mut found = vec![(
        "memberships listed twice",
        db.query_one(&per_topic, &[&topic]).await?.get::<_, i64>(0),
    )];
    for (what, sql) in global {
        let n: i64 = db
            .query_one(sql, &[])
            .await
            .with_context(|| format!("duplicate check: {what}"))?
            .get(0);
        found.push((what, n));
    }
    Ok(found)
}

/// The ids of a topic's repositories, ascending.
pub async fn member_ids(db: &Client, topic: &str) -> anyhow::Result<Vec<i64>> {
    Ok(db
        .query(&format!("{MEMBERS} ORDER BY 1"), &[&topic])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Failed jobs: id, kind, last error.
pub async fn failed_jobs(db: &Client) -> anyhow::Result<Vec<(i64, String, String)>> {
    Ok(db
        .query(
            "SELECT id, kind, coalesce(last_error, '') FROM jobs WHERE status = 'failed' ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// A running job's lease: who holds it (`api-N-<pid>-<worker>`), how many
/// items it stored, and which attempt this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub progress: i64,
    pub attempt: i32,
}

pub async fn lease(db: &Client, job: i64) -> anyhow::Result<Option<Lease>> {
    Ok(db
        .query_opt(
            "SELECT lease_owner, coalesce(progress_done, 0), attempts FROM jobs \
             WHERE id = $1 AND status = 'running' AND lease_owner IS NOT NULL",
            &[&job],
        )
        .await?
        .map(|r| Lease {
            owner: r.get(0),
            progress: r.get(1),
            attempt: r.get(2),
        }))
}
