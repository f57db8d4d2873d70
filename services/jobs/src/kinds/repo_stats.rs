//! `repo_stats`: one repository's contributor statistics
//! (`/repos/{o}/{r}/stats/contributors`) into its contributors' first weeks
//! and `contributor_first_month`.
//!
//! - 202 (GitHub still computing): the job is rescheduled after a bounded,
//!   jittered exponential backoff; no worker waits. After
//!   `orgs.stats_max_computing` 202s in a row the repository is "statistics
//!   unavailable" and the job succeeds; what it had before stays.
//! - 204: an empty repository, no contributors.
//! - 200: each contributor's first week with commits over the whole history.
//!   A week counts in the calendar month of its start (Sunday 00:00 UTC), so
//!   a week straddling two months counts in the month of its Sunday. Null
//!   authors are counted apart (anonymous commits); bots are left out unless
//!   `orgs.include_bots`. A body whose content hashes as last time changes
//!   nothing; otherwise only contributors whose first week changed are
//!   written, and only their months recounted.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use hubpulse_domain::wire::{OwnerKind, OwnerPayload};
use hubpulse_github::{Credential, Operation, Page};
use hubpulse_store::StoreError;
use hubpulse_store::orgs::{self, Contributions, FirstWeek, StatsState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Job, JobContext, JobError, JobRun, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStats {
    pub repository_id: i64,
}

/// One element of GitHub's answer; additions and deletions are not read
/// (GitHub reports 0 for them past 10,000 commits anyway).
#[derive(Debug, Deserialize)]
pub struct ContributorStats {
    pub author: Option<OwnerPayload>,
    #[serde(default)]
    pub weeks: Vec<Week>,
}

#[derive(Debug, Deserialize)]
pub struct Week {
    /// The week's Sunday, 00:00 UTC, in Unix seconds.
    pub w: i64,
    /// Commits.
    #[serde(default)]
    pub c: u64,
}

impl Job for RepoStats {
    const KIND: &'static str = "repo_stats";
    type Context = JobContext;
    type Output = RepoStatsOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("repo_stats:{}", self.repository_id))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        _run: &JobRun,
    ) -> Result<Outcome<RepoStatsOutput>, JobError> {
        let id = self.repository_id;
        let Some(target) = orgs::stats_target(&ctx.store.conn().await?, id).await? else {
            return Ok(done(id, "unknown repository", Detail::default()));
        };
        let url = ctx.github.url(
            Operation::RepoContributorStats,
            &[&target.owner, &target.name],
            &[],
        )?;
        let page = ctx
            .github
            .get::<Vec<ContributorStats>>(
                Operation::RepoContributorStats,
                &url,
                &Credential::Service,
                None,
            )
            .await?;
        match page {
            Page::Computing { retry_after, .. } => {
                // A round of 202s continues only from `computing`; any other
                // state starts a new one.
                let before = if target.state == StatsState::Computing {
                    target.attempts
                } else {
                    0
                };
                let attempts = before.saturating_add(1);
                let conn = ctx.store.conn().await?;
                if attempts.unsigned_abs() >= ctx.orgs.stats_max_computing {
                    orgs::set_state(&conn, id, StatsState::Unavailable, attempts).await?;
                    tracing::warn!(
                        repository_id = id,
                        attempts,
                        "statistics unavailable: GitHub still computing"
                    );
                    return Ok(done(
                        id,
                        "unavailable",
                        Detail {
                            attempts: Some(attempts),
                            ..Detail::default()
                        },
                    ));
                }
                orgs::set_state(&conn, id, StatsState::Computing, attempts).await?;
                let wait = ctx.orgs.stats_backoff().delay(attempts.unsigned_abs());
                let mut at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                if let Some(after) = retry_after {
                    at = at.max(after);
                }
                Ok(Outcome::RescheduleAt {
                    at,
                    reason: format!("GitHub is computing the statistics (202 number {attempts})"),
                })
            }
            Page::Empty { .. } => {
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                let applied = orgs::apply_empty(&tx, id).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(done(
                    id,
                    "empty",
                    Detail {
                        months_written: Some(applied.months_written),
                        ..Detail::default()
                    },
                ))
            }
            Page::NotModified { .. } => {
                orgs::set_state(&ctx.store.conn().await?, id, StatsState::Ready, 0).await?;
                Ok(done(id, "unchanged", Detail::default()))
            }
            Page::Fresh { body, .. } => {
                let reduced = reduce(&body, ctx.orgs.include_bots);
                if target.body_hash.as_deref() == Some(reduced.hash.as_str())
                    && target.state == StatsState::Ready
                {
                    return Ok(done(id, "unchanged", Detail::default()));
                }
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
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
                tx.commit().await.map_err(StoreError::from)?;
                Ok(done(
                    id,
                    "ready",
                    Detail {
                        attempts: None,
                        contributors: Some(reduced.first_weeks.len() as u64),
                        contributors_changed: Some(applied.contributors_changed),
                        months_written: Some(applied.months_written),
                        anonymous_commits: Some(reduced.anonymous_commits),
                    },
                ))
            }
        }
    }
}

/// What a finished `repo_stats` job reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepoStatsOutput {
    pub repository_id: i64,
    /// `ready`, `empty`, `unavailable` (GitHub kept computing),
    /// `unchanged` (the same statistics as last time: nothing written) or
    /// `unknown repository` (no longer stored).
    pub state: String,
    pub detail: Detail,
}

/// The numbers behind a `repo_stats` result; each only where it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Detail {
    /// 202s in a row, when the repository ended unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors_changed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months_written: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_commits: Option<i64>,
}

fn done(id: i64, state: &str, detail: Detail) -> Outcome<RepoStatsOutput> {
    Outcome::Done(RepoStatsOutput {
        repository_id: id,
        state: state.to_owned(),
        detail,
    })
}

/// What is kept of one answer, and the hash of exactly that.
#[derive(Debug, PartialEq, Eq)]
pub struct Reduced {
    pub first_weeks: BTreeMap<i64, FirstWeek>,
    pub anonymous_commits: i64,
    pub hash: String,
}

fn is_bot(author: &OwnerPayload) -> bool {
    author.kind == OwnerKind::Bot || author.login.ends_with("[bot]")
}

fn week_date(w: i64) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp(w, 0).map(|t| t.date_naive())
}

/// Each counted contributor's first week with commits, the anonymous
/// commits, and a hash of those (not of the body's bytes: GitHub's order
/// and the additions and deletions do not matter downstream).
pub fn reduce(stats: &[ContributorStats], include_bots: bool) -> Reduced {
    let mut first_weeks = BTreeMap::new();
    let mut anonymous_commits: i64 = 0;
    for s in stats {
        let Some(author) = &s.author else {
            let commits: u64 = s.weeks.iter().map(|w| w.c).sum();
            anonymous_commits =
                anonymous_commits.saturating_add(i64::try_from(commits).unwrap_or(i64::MAX));
            continue;
        };
        if !include_bots && is_bot(author) {
            continue;
        }
        let first = s.weeks.iter().filter(|w| w.c > 0).map(|w| w.w).min();
        if let Some(week) = first.and_then(week_date) {
            first_weeks.insert(
                author.id,
                FirstWeek {
                    login: author.login.clone(),
                    week,
                },
            );
        }
    }
    let mut hasher = Sha256::new();
    for (id, first) in &first_weeks {
        hasher.update(format!("{id}\t{}\t{}\n", first.login, first.week));
    }
    hasher.update(format!("anonymous\t{anonymous_commits}\n"));
    Reduced {
        first_weeks,
        anonymous_commits,
        hash: hex::encode(hasher.finalize()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(id: i64, login: &str, kind: OwnerKind) -> Option<OwnerPayload> {
        Some(OwnerPayload {
            id,
            login: login.into(),
            node_id: None,
            avatar_url: None,
            html_url: None,
            kind,
            site_admin: false,
        })
    }

    fn weeks(commits: &[(i64, u64)]) -> Vec<Week> {
        commits.iter().map(|&(w, c)| Week { w, c }).collect()
    }

    // Sunday 2013-08-11 and the Sundays around it.
    const SUN: i64 = 1_376_179_200;
    const WEEK: i64 = 7 * 86_400;

    #[test]
    fn first_weeks_skip_zero_weeks_bots_and_count_null_authors_apart() {
        let stats = vec![
            ContributorStats {
                author: author(1, "alice", OwnerKind::User),
                weeks: weeks(&[(SUN, 0), (SUN + WEEK, 3), (SUN + 2 * WEEK, 1)]),
            },
            ContributorStats {
                author: author(2, "dependabot[bot]", OwnerKind::Bot),
                weeks: weeks(&[(SUN, 5)]),
            },
            ContributorStats {
                author: author(3, "renovate[bot]", OwnerKind::User),
                weeks: weeks(&[(SUN, 5)]),
            },
            ContributorStats {
                author: None,
                weeks: weeks(&[(SUN, 2), (SUN + WEEK, 4)]),
            },
            ContributorStats {
                author: author(4, "idle", OwnerKind::User),
                weeks: weeks(&[(SUN, 0)]),
            },
        ];
        let r = reduce(&stats, false);
        assert_eq!(r.first_weeks.len(), 1);
        assert_eq!(
            r.first_weeks[&1].week,
            NaiveDate::from_ymd_opt(2013, 8, 18).unwrap()
        );
        assert_eq!(r.anonymous_commits, 6);
        let with_bots = reduce(&stats, true);
        assert_eq!(with_bots.first_weeks.len(), 3);
        assert_ne!(with_bots.hash, r.hash);
        // The same content in another order hashes the same.
        let mut reversed = stats;
        reversed.reverse();
        assert_eq!(reduce(&reversed, false).hash, r.hash);
    }

    #[test]
    fn a_week_straddling_two_months_counts_in_the_month_of_its_sunday() {
        // Sunday 2013-06-30: the week runs into July.
        let w = SUN - 6 * WEEK;
        let day = week_date(w).unwrap();
        assert_eq!(day, NaiveDate::from_ymd_opt(2013, 6, 30).unwrap());
        assert_eq!(
            orgs::month_of(day),
            NaiveDate::from_ymd_opt(2013, 6, 1).unwrap()
        );
    }
}
