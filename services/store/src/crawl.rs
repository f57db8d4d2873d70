//! What a topic crawl writes: one search page at a time, in one transaction
//! (the caller's) of a few multi-row statements (never a round trip per
//! repository), and the seen-set that prunes membership only after a
//! complete walk. Each page's ETag memory is [`crate::pages`], written by the
//! caller in the same transaction.

use hubpulse_domain::wire::RepoPayload;
use tokio_postgres::{GenericClient, Transaction};

use crate::queue::JobId;
use crate::{Db, StoreError, repositories, topics};

/// One fetched search page to store: its [`repositories::storable_by_id`]
/// repositories, whose owners and licenses are stored already
/// ([`repositories::upsert_references`]).
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    pub job_id: JobId,
    pub topic_id: i64,
    pub repos: &'a [&'a RepoPayload],
}

/// What a crawl asked GitHub, in one run or over every run of a job (a
/// rate limit reschedules a crawl mid-walk; the next run walks again from
/// the start, its stored pages coming back as 304s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlCalls {
    pub runs: i64,
    /// Pages and probes GitHub answered, 304s included.
    pub github_calls: i64,
    pub not_modified: i64,
    pub probes: i64,
}

impl CrawlCalls {
    /// Calls answered in full: each one spent a unit of the search quota.
    pub fn quota_spent(&self) -> i64 {
        self.github_calls - self.not_modified
    }

    fn add(&mut self, other: &CrawlCalls) {
        self.runs += other.runs;
        self.github_calls += other.github_calls;
        self.not_modified += other.not_modified;
        self.probes += other.probes;
    }
}

/// What finishing a crawl did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlTotals {
    /// Distinct repositories the job saw.
    pub seen: i64,
    /// Memberships dropped because the walk did not meet them.
    pub removed: u64,
    /// Whether memberships were pruned: the walk was complete and saw at
    /// least as many repositories as the topic holds.
    pub pruned: bool,
    /// Memberships the walk did not meet but kept anyway: more than
    /// [`drop_threshold`] at once, with no earlier crawl agreeing. The next
    /// complete crawl that would drop as much prunes them.
    pub held: u64,
    /// The job's calls over all its runs, the finishing one included.
    pub calls: CrawlCalls,
}

/// Forgets the seen-sets and call tallies of the topic's crawls that
/// are no longer live (failed or lost); the live job's own rows stay, so
/// its retries keep what earlier attempts saw.
pub async fn start_crawl(db: &impl Db, topic_id: i64, job_id: JobId) -> Result<(), StoreError> {
    let conn = db.client();
    for table in ["crawl_seen", "crawl_calls"] {
        conn.execute(
            &format!(
                "DELETE FROM {table} s WHERE s.topic_id = $1 AND s.job_id <> $2 \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.job_id \
                                 AND j.status IN ('queued', 'running', 'rescheduled'))"
            ),
            &[&topic_id, &job_id],
        )
        .await?;
    }
    Ok(())
}

/// Adds the calls of a run that stopped before the end (rescheduled or
/// failed) to the job's tally, so its result counts every run.
pub async fn add_crawl_calls(
    db: &impl Db,
    topic_id: i64,
    job_id: JobId,
    calls: &CrawlCalls,
) -> Result<(), StoreError> {
    let conn = db.client();
    conn.execute(
        "INSERT INTO crawl_calls (job_id, topic_id, runs, github_calls, not_modified, probes) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (job_id) DO UPDATE SET runs = crawl_calls.runs + EXCLUDED.runs, \
             github_calls = crawl_calls.github_calls + EXCLUDED.github_calls, \
             not_modified = crawl_calls.not_modified + EXCLUDED.not_modified, \
             probes = crawl_calls.probes + EXCLUDED.probes",
        &[
            &job_id,
            &topic_id,
            &calls.runs,
            &calls.github_calls,
            &calls.not_modified,
            &calls.probes,
        ],
    )
    .await?;
    Ok(())
}

/// Stores a fetched search page in the caller's transaction: its
/// repositories, the job's seen-set and topic membership, one multi-row
/// statement each. Membership goes last: its count trigger locks the topic's
/// row until the transaction ends, and two pages written side by side wait
/// on each other only for that tail. Returns the ids stored, ascending.
pub async fn store_search_page(
    tx: &Transaction<'_>,
    page: &PageWrite<'_>,
) -> Result<Vec<i64>, StoreError> {
    repositories::upsert_repositories(tx, page.repos).await?;
    let stored: Vec<i64> = page.repos.iter().map(|r| r.id).collect();
    if !stored.is_empty() {
        tx.execute(
            "INSERT INTO crawl_seen (job_id, topic_id, repository_id) \
             SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING",
            &[&page.job_id, &page.topic_id, &stored],
        )
        .await?;
        topics::add_members(tx, page.topic_id, &stored).await?;
    }
    Ok(stored)
}

/// A page answered 304: its stored repositories are members still and
/// seen by this job. Returns how many of `ids` are stored repositories;
/// fewer than asked means the memory is stale and the page must be
/// fetched again.
pub async fn reuse_search_page(
    db: &impl Db,
    job_id: JobId,
    topic_id: i64,
    ids: &[i64],
) -> Result<usize, StoreError> {
    let conn = db.client();
    let row = conn
        .query_one(
            "WITH ids AS (SELECT id FROM repositories WHERE id = ANY($3::bigint[]) ORDER BY id), \
             members AS (INSERT INTO repository_topics (topic_id, repository_id) \
                 SELECT $2, id FROM ids ON CONFLICT DO NOTHING), \
             seen AS (INSERT INTO crawl_seen (job_id, topic_id, repository_id) \
                 SELECT $1, $2, id FROM ids ON CONFLICT DO NOTHING) \
             SELECT count(*) FROM ids",
            &[&job_id, &topic_id, &ids],
        )
        .await?;
    let found: i64 = row.get(0);
    Ok(usize::try_from(found).unwrap_or(0))
}

/// Ends a crawl, in the caller's transaction: when `complete` and the job saw at least `expected`
/// repositories, drops the memberships the walk did not meet; either way
/// forgets the job's seen-set and call tally. One transaction, so a crash
/// leaves both for the retry.
///
/// `expected` is the topic's size as its search reported it: a page
/// boundary that shifted mid-walk (a repository left or joined a window
/// between two of its pages) can skip a member without any window coming
/// up short, and that member must not lose its topic for it.
/// The most memberships one crawl may drop on its own word: a tenth of the
/// topic, and never fewer than 20 (a small topic's churn is not an outage).
/// A bigger drop (GitHub answering short or empty for once) waits for a
/// second crawl to agree.
pub fn drop_threshold(members: i64) -> i64 {
    (members / 10).max(20)
}

pub async fn finish_crawl(
    tx: &Transaction<'_>,
    topic_id: i64,
    job_id: JobId,
    complete: bool,
    expected: i64,
    this_run: &CrawlCalls,
) -> Result<CrawlTotals, StoreError> {
    let seen: i64 = tx
        .query_one(
            "SELECT count(*) FROM crawl_seen WHERE job_id = $1 AND topic_id = $2",
            &[&job_id, &topic_id],
        )
        .await?
        .get(0);
    let mut pruned = complete && seen >= expected;
    let mut held = 0;
    if pruned {
        // The topic row, locked: two crawls finishing at once must not
        // both read the other's hold as agreement.
        let row = tx
            .query_one(
                "SELECT t.held_drop, \
                   (SELECT count(*) FROM repository_topics rt WHERE rt.topic_id = t.id), \
                   (SELECT count(*) FROM repository_topics rt WHERE rt.topic_id = t.id AND NOT EXISTS \
                      (SELECT 1 FROM crawl_seen s WHERE s.job_id = $2 AND s.repository_id = rt.repository_id)) \
                 FROM topics t WHERE t.id = $1 FOR UPDATE",
                &[&topic_id, &job_id],
            )
            .await?;
        let (held_before, members, dropping): (Option<i64>, i64, i64) =
            (row.get(0), row.get(1), row.get(2));
        let large = dropping > drop_threshold(members);
        if large && held_before.is_none() {
            pruned = false;
            held = u64::try_from(dropping).unwrap_or(0);
        }
        tx.execute(
            "UPDATE topics SET held_drop = $2 WHERE id = $1 AND held_drop IS DISTINCT FROM $2",
            &[&topic_id, &(held > 0).then_some(dropping)],
        )
        .await?;
    }
    let removed = if pruned {
        tx.execute(
            "DELETE FROM repository_topics rt WHERE rt.topic_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM crawl_seen s WHERE s.job_id = $2 AND s.repository_id = rt.repository_id)",
            &[&topic_id, &job_id],
        )
        .await?
    } else {
        0
    };
    tx.execute("DELETE FROM crawl_seen WHERE job_id = $1", &[&job_id])
        .await?;
    let mut calls = *this_run;
    if let Some(row) = tx
        .query_opt(
            "DELETE FROM crawl_calls WHERE job_id = $1 \
             RETURNING runs, github_calls, not_modified, probes",
            &[&job_id],
        )
        .await?
    {
        calls.add(&CrawlCalls {
            runs: row.get(0),
            github_calls: row.get(1),
            not_modified: row.get(2),
            probes: row.get(3),
        });
    }
    Ok(CrawlTotals {
        seen,
        removed,
        pruned,
        held,
        calls,
    })
}
