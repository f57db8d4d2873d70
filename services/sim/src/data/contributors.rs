//! `GET /repos/{o}/{r}/stats/contributors`, computed on demand from the
//! seed and the repository: weekly additions, deletions and commits per
//! contributor, a share of them with no account (`author: null`) or bots.

use hubpulse_domain::wire::{OwnerKind, OwnerPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::topics::owner_payload;
use super::{Dataset, data_now};

const WEEK: i64 = 7 * 86_400;
/// Weeks of history served at most, counted back from the last push.
const MAX_WEEKS: i64 = 104;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContributorStats {
    pub author: Option<OwnerPayload>,
    pub total: u64,
    pub weeks: Vec<Week>,
}

/// One week: `w` its start (Sunday 00:00 UTC, Unix seconds), `a`dditions,
/// `d`eletions and `c`ommits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Week {
    pub w: i64,
    pub a: u64,
    pub d: u64,
    pub c: u64,
}

/// The Sunday 00:00 UTC on or before `t` (1970-01-01 was a Thursday).
pub fn week_start(t: i64) -> i64 {
    let day = t.div_euclid(86_400);
    (day - (day + 4).rem_euclid(7)) * 86_400
}

impl Dataset {
    /// Every contributor's weeks span the same range, zero weeks included,
    /// and `total` is the sum of their commits, as on GitHub. `None` for an
    /// empty repository (GitHub's 204).
    pub fn contributor_stats(&self, repo: usize, seed: u64) -> Option<Vec<ContributorStats>> {
        let r = &self.repos[repo];
        if r.size == 0 {
            return None;
        }
        let mut rng =
            StdRng::seed_from_u64(seed ^ (r.id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let last = week_start(
            r.pushed_at
                .unwrap_or(r.updated_at)
                .min(data_now())
                .timestamp(),
        );
        let first = week_start(r.created_at.timestamp()).max(last - (MAX_WEEKS - 1) * WEEK);
        let weeks = ((last - first) / WEEK + 1) as usize;
        let users: Vec<&super::Account> = self
            .accounts
            .iter()
            .filter(|a| a.kind != OwnerKind::Organization)
            .collect();
        let mut authors = vec![Some(r.owner.clone())];
        for _ in 0..rng.random_range(0..12) {
            authors.push(if rng.random_bool(0.05) || users.is_empty() {
                None
            } else {
                Some(users[rng.random_range(0..users.len())].owner())
            });
        }
        let mut out: Vec<ContributorStats> = authors
            .into_iter()
            .enumerate()
            .map(|(n, author)| {
                let busy = rng.random_range(0.05f64..0.6);
                let joined = rng.random_range(0..weeks);
                let weeks: Vec<Week> = (0..weeks)
                    .map(|k| {
                        let w = first + k as i64 * WEEK;
                        // The owner made the last push, so a repository
                        // with content always has a contributor.
                        let pushed = n == 0 && k == weeks - 1;
                        if !pushed && (k < joined || !rng.random_bool(busy)) {
                            return Week {
                                w,
                                a: 0,
                                d: 0,
                                c: 0,
                            };
                        }
                        let c = rng.random_range(1..20);
                        Week {
                            w,
                            a: c * rng.random_range(1..80),
                            d: c * rng.random_range(0..40),
                            c,
                        }
                    })
                    .collect();
                ContributorStats {
                    author,
                    total: weeks.iter().map(|w| w.c).sum(),
                    weeks,
                }
            })
            .filter(|s| s.total > 0)
            .collect();
        zero_churn_past_the_commit_cap(&mut out);
        // GitHub lists them by total commits, ascending.
        out.sort_by_key(|s| s.total);
        Some(out)
    }

    /// `contributor_stats` with `newcomers` more contributors, each with
    /// commits in the last week only (a test's "one new contributor").
    pub fn contributor_stats_with(
        &self,
        repo: usize,
        seed: u64,
        newcomers: u32,
    ) -> Option<Vec<ContributorStats>> {
        let mut out = self.contributor_stats(repo, seed)?;
        let Some(template) = out.first().map(|s| s.weeks.clone()) else {
            return Some(out);
        };
        let repo_id = self.repos[repo].id;
        for n in 0..i64::from(newcomers) {
            let mut weeks: Vec<Week> = template
                .iter()
                .map(|w| Week {
                    w: w.w,
                    a: 0,
                    d: 0,
                    c: 0,
                })
                .collect();
            if let Some(last) = weeks.last_mut() {
                *last = Week {
                    a: 10,
                    d: 1,
                    c: 1,
                    ..*last
                };
            }
            // Ids far from the generated accounts', distinct per repository.
            let id = 700_000_000 + repo_id % 1_000_000 * 100 + n;
            out.push(ContributorStats {
                author: Some(owner_payload(
                    id,
                    format!("newcomer-{repo_id}-{n}"),
                    OwnerKind::User,
                )),
                total: 1,
                weeks,
            });
        }
        zero_churn_past_the_commit_cap(&mut out);
        out.sort_by_key(|s| s.total);
        Some(out)
    }
}

/// GitHub's documented rule: a repository of 10,000 commits or more still
/// gets contributor statistics, with every addition and deletion count 0
/// (commit counts unaffected).
const COMMIT_CAP: u64 = 10_000;

fn zero_churn_past_the_commit_cap(stats: &mut [ContributorStats]) {
    if stats.iter().map(|s| s.total).sum::<u64>() < COMMIT_CAP {
        return;
    }
    for week in stats.iter_mut().flat_map(|s| s.weeks.iter_mut()) {
        week.a = 0;
        week.d = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_ten_thousand_commits_additions_and_deletions_are_zero() {
        let week = |c| Week {
            w: 0,
            a: 5,
            d: 5,
            c,
        };
        let mut small = vec![ContributorStats {
            author: None,
            total: 9_999,
            weeks: vec![week(9_999)],
        }];
        zero_churn_past_the_commit_cap(&mut small);
        assert_eq!(small[0].weeks[0].a, 5);
        let mut big = vec![
            ContributorStats {
                author: None,
                total: 9_999,
                weeks: vec![week(9_999)],
            },
            ContributorStats {
                author: None,
                total: 1,
                weeks: vec![week(1)],
            },
        ];
        zero_churn_past_the_commit_cap(&mut big);
        assert!(big.iter().all(|s| s.weeks[0].a == 0 && s.weeks[0].d == 0));
        assert_eq!(big[0].weeks[0].c, 9_999, "commit counts are kept");
    }

    #[test]
    fn weeks_start_on_sunday() {
        assert_eq!(week_start(1_376_179_200), 1_376_179_200);
        assert_eq!(
            week_start(1_376_179_200 + 6 * 86_400 + 3_600),
            1_376_179_200
        );
        assert_eq!(week_start(1_367_712_000 - 1), 1_367_712_000 - WEEK);
    }
}
