//! The organisation statistics benchmark of `make bench` (issue 15): an
//! organisation of 2,000 repositories with 500 contributors each over ten
//! years, computed in full, then synced again with one new contributor in
//! one repository. Run against the bench stack's Postgres with the
//! production code path of `repo_stats` (its reduction of GitHub's
//! statistics, the body hash that skips an unchanged repository, and
//! `store::orgs::apply_contributions`), minus the HTTP: the statistics of
//! 2,000 such repositories are 15 GB of JSON, which the simulator's
//! bench would measure instead of HubPulse.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta};
use hubpulse_domain::wire::{OwnerKind, OwnerPayload, RepoPayload};
use hubpulse_jobs::kinds::{ContributorStats, StatsWeek, reduce_stats};
use hubpulse_store::orgs::{self, Contributions};
use hubpulse_store::repositories;
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls};

use crate::bench::Target;

/// Far from the simulator's ids, so the bench's rows never meet a crawl's.
const OWNER_ID: i64 = 990_000_000;
const FIRST_REPO_ID: i64 = 990_000_000;
/// The first Sunday of 2016.
const FIRST_SUNDAY: (i32, u32, u32) = (2016, 1, 3);

/// The full computation may take this long at most (2 shared cores)...
pub const MAX_FULL_SECS: f64 = 900.0;
/// ...and the re-sync's writes a hundredth of the full pass's: it must read
/// (and hash) every repository's statistics, as GitHub answers them all,
/// but write only what changed.
pub const MAX_RESYNC_WRITE_SHARE: f64 = 0.01;

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub repositories: usize,
    pub contributors: usize,
    pub years: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pass {
    /// HubPulse's work: reducing, comparing and writing (generating the
    /// statistics, GitHub's part, is not counted).
    pub seconds: f64,
    /// Of which in the transactions that write a repository's statistics.
    #[serde(default)]
    pub write_seconds: f64,
    /// Of which reducing GitHub's statistics to first weeks and hashing them.
    pub reduce_seconds: f64,
    /// Repositories whose statistics were written (the others' hash matched).
    pub repositories_written: u64,
    /// `contributor_first_week` rows inserted, updated or deleted.
    pub first_weeks_written: u64,
    /// `contributor_first_month` rows inserted, updated or deleted.
    pub months_written: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgStatsBench {
    pub repositories: usize,
    pub contributors_per_repository: usize,
    pub years: usize,
    /// Every week of every contributor of every repository, as GitHub sends them.
    pub weeks_read: u64,
    pub full: Pass,
    pub resync: Pass,
    /// `contributor_first_month` rows of the organisation after the full pass.
    pub month_rows: i64,
}

/// Every week of the years, as GitHub writes them: Sunday 00:00 UTC in
/// Unix seconds.
fn week_starts(shape: &Shape) -> Vec<i64> {
    let (y, m, d) = FIRST_SUNDAY;
    let first = NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .expect("a valid Sunday");
    (0..shape.years * 52 + 1)
        .map(|i| (first + TimeDelta::weeks(i as i64)).timestamp())
        .collect()
}

/// One repository's statistics: `contributors` people (ids from a shared
/// pool, so people contribute to several repositories), each with a week of
/// every one of the years, commits from a first week on. `extra` adds one
/// more person whose first week is the last.
fn statistics(shape: &Shape, starts: &[i64], repo: usize, extra: bool) -> Vec<ContributorStats> {
    let weeks = starts.len();
    let mut out = Vec::with_capacity(shape.contributors + 1);
    for c in 0..shape.contributors + usize::from(extra) {
        let (id, first) = if c < shape.contributors {
            // 4729 is coprime with 50,000: distinct ids within a repository.
            let id = (repo * 7919 + c * 4729) % 50_000 + 1;
            (id, (repo * 31 + c * 97) % weeks)
        } else {
            (60_000 + repo, weeks - 1)
        };
        let weeks: Vec<StatsWeek> = (0..weeks)
            .map(|i| StatsWeek {
                w: starts[i],
                c: if i == first || (i > first && (i + c) % 5 == 0) {
                    1 + (i % 3) as u64
                } else {
                    0
                },
            })
            .collect();
        out.push(ContributorStats {
            author: Some(OwnerPayload {
                id: id as i64,
                login: format!("dev-{id}"),
                node_id: None,
                avatar_url: None,
                html_url: None,
                kind: OwnerKind::User,
                site_admin: false,
            }),
            weeks,
        });
    }
    out
}

fn repository(n: usize) -> anyhow::Result<RepoPayload> {
    let id = FIRST_REPO_ID + n as i64;
    Ok(serde_json::from_value(serde_json::json!({
        "id": id,
        "name": format!("repo-{n:04}"),
        "full_name": format!("bench-org/repo-{n:04}"),
        "owner": {"id": OWNER_ID, "login": "bench-org", "type": "Organization"},
        "html_url": format!("https://github.com/bench-org/repo-{n:04}"),
        "created_at": "2016-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }))?)
}

/// A fresh organisation: the bench's earlier rows dropped (their first
/// weeks and months go with them), its repositories stored.
async fn setup(db: &mut Client, shape: &Shape) -> anyhow::Result<()> {
    db.execute("DELETE FROM repositories WHERE owner_id = $1", &[&OWNER_ID])
        .await?;
    let repos = (0..shape.repositories)
        .map(repository)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tx = db.transaction().await?;
    for chunk in repos.chunks(500) {
        repositories::upsert(&tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One sync of every repository, as `repo_stats` does it: reduce, compare
/// the hash with the stored one, write only a repository that changed.
async fn pass(
    db: &mut Client,
    shape: &Shape,
    changed: Option<usize>,
    weeks_read: &mut u64,
) -> anyhow::Result<Pass> {
    let starts = week_starts(shape);
    let mut working = Duration::ZERO;
    let mut reducing = Duration::ZERO;
    let mut writing = Duration::ZERO;
    let mut out = Pass {
        seconds: 0.0,
        write_seconds: 0.0,
        reduce_seconds: 0.0,
        repositories_written: 0,
        first_weeks_written: 0,
        months_written: 0,
    };
    for repo in 0..shape.repositories {
        let id = FIRST_REPO_ID + repo as i64;
        let stats = statistics(shape, &starts, repo, changed == Some(repo));
        let t = Instant::now();
        *weeks_read += stats.iter().map(|s| s.weeks.len() as u64).sum::<u64>();
        let reduced = reduce_stats(&stats, false);
        drop(stats);
        reducing += t.elapsed();
        let target = orgs::stats_target(&*db, id)
            .await?
            .with_context(|| format!("repository {id} is not stored"))?;
        if target.body_hash.as_deref() == Some(reduced.hash.as_str())
            && target.state == orgs::StatsState::Ready
        {
            working += t.elapsed();
            continue;
        }
        let w = Instant::now();
        let tx = db.transaction().await?;
        let applied = orgs::apply_contributions(
            &tx,
            id,
            &Contributions {
                first_weeks: &reduced.first_weeks,
                anonymous_commits: reduced.anonymous_commits,
                body_hash: &reduced.hash,
            },
        )
        .await?;
        tx.commit().await?;
        writing += w.elapsed();
        working += t.elapsed();
        out.repositories_written += 1;
        out.first_weeks_written += applied.contributors_changed;
        out.months_written += applied.months_written;
    }
    out.seconds = working.as_secs_f64();
    out.reduce_seconds = reducing.as_secs_f64();
    out.write_seconds = writing.as_secs_f64();
    Ok(out)
}

pub async fn run(database_url: &str, shape: Shape) -> anyhow::Result<OrgStatsBench> {
    let (mut db, connection) = tokio_postgres::connect(database_url, NoTls)
        .await
        .context("connecting to the bench stack's Postgres")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    setup(&mut db, &shape).await?;
    let mut weeks_read = 0;
    let full = pass(&mut db, &shape, None, &mut weeks_read).await?;
    let month_rows: i64 = db
        .query_one(
            "SELECT count(*) FROM contributor_first_month m JOIN repositories r \
             ON r.id = m.repository_id WHERE r.owner_id = $1",
            &[&OWNER_ID],
        )
        .await?
        .get(0);
    let resync = pass(&mut db, &shape, Some(shape.repositories / 2), &mut 0).await?;
    Ok(OrgStatsBench {
        repositories: shape.repositories,
        contributors_per_repository: shape.contributors,
        years: shape.years,
        weeks_read,
        full,
        resync,
        month_rows,
    })
}

/// The bench's verdicts on the two passes.
pub fn targets(b: &OrgStatsBench) -> Vec<Target> {
    let full = &b.full;
    let resync = &b.resync;
    let mut out = vec![Target {
        name: format!(
            "organisation statistics, full: {} repositories x {} contributors, {} years",
            b.repositories, b.contributors_per_repository, b.years
        ),
        wanted: format!("< {MAX_FULL_SECS:.0} s, every repository written"),
        measured: format!(
            "{:.1} s ({:.1} s reducing {} weeks, {:.1} s writing), {} first weeks and {} months written",
            full.seconds,
            full.reduce_seconds,
            b.weeks_read,
            full.write_seconds,
            full.first_weeks_written,
            full.months_written
        ),
        passed: full.seconds < MAX_FULL_SECS
            && full.repositories_written == b.repositories as u64
            && full.first_weeks_written == (b.repositories * b.contributors_per_repository) as u64,
    }];
    let limit = full.write_seconds * MAX_RESYNC_WRITE_SHARE;
    out.push(Target {
        name: "organisation statistics, re-sync with one new contributor".into(),
        wanted: format!(
            "1 repository, 1 first week and 1 month written; writes < {:.0}% of the full pass's",
            MAX_RESYNC_WRITE_SHARE * 100.0
        ),
        measured: format!(
            "{} repository, {} first week(s), {} month(s) written; {:.3} s writing ({:.2}% of the full pass's), {:.2} s in all (reading and hashing every repository's statistics)",
            resync.repositories_written,
            resync.first_weeks_written,
            resync.months_written,
            resync.write_seconds,
            resync.write_seconds / full.write_seconds.max(1e-9) * 100.0,
            resync.seconds
        ),
        passed: resync.repositories_written == 1
            && resync.first_weeks_written == 1
            && resync.months_written == 1
            && resync.write_seconds < limit,
    });
    out
}
