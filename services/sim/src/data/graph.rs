//! The developer graph (`[sim.graph]`): accounts apart from the topics'
//! owners, so the topics' data stays what it was. `graph-seed` (index 0)
//! reaches every one of them by follow edges: each developer after the
//! first is linked to one before it, so the graph is connected whatever the
//! seed. `graph-celebrity` is followed by a large share of all; every Nth
//! developer is an organisation (followed, following nobody); the seed
//! also follows a bot, `graph-helper[bot]`, and `graph-suspended`, whose
//! own profile and lists answer 404. Developers own repositories and star
//! them (`starred_at` in the past of the data set's "now"), and a graph
//! repository's `stargazers_count` is its real number of stars.

use chrono::DateTime;
use hubpulse_domain::wire::{OwnerKind, RepoPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::accounts::{Star, account, long_tail, pick, profile};
use super::topics::{LANGUAGES, WORDS};
use super::{Dataset, data_now, ts};
use crate::settings::SimSettings;

/// Ids well apart from the topics' owners (1000 + n) and named accounts (9,000,001 + k).
pub const FIRST_ID: i64 = 20_000_000;
pub const BOT_ID: i64 = 29_000_001;
pub const SUSPENDED_ID: i64 = 29_000_002;
pub const FIRST_REPO_ID: i64 = 30_000_000;
pub const SEED: &str = "graph-seed";
pub const CELEBRITY: &str = "graph-celebrity";
pub const BOT: &str = "graph-helper[bot]";
pub const SUSPENDED: &str = "graph-suspended";

fn login(i: usize, org: bool) -> String {
    match i {
        0 => SEED.into(),
        1 => CELEBRITY.into(),
        _ if org => format!("gorg-{i:05}"),
        _ => format!("gdev-{i:05}"),
    }
}

fn follow(data: &mut Dataset, from: usize, to: usize) {
    if from != to && !data.accounts[from].following.contains(&to) {
        data.accounts[from].following.push(to);
        data.accounts[to].followers.push(from);
    }
}

/// Appends the graph to `data.accounts` and `data.repos`, from its own
/// generator.
pub(super) fn populate(data: &mut Dataset, settings: &SimSettings) {
    let g = &settings.graph;
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x6EA9_11FE);
    let base = data.accounts.len();
    let n = g.developers;
    let is_org = |i: usize| g.org_every > 0 && i >= 2 && i.is_multiple_of(g.org_every);
    for i in 0..n {
        let kind = if is_org(i) {
            OwnerKind::Organization
        } else {
            OwnerKind::User
        };
        let profile = profile(&mut rng, kind);
        data.accounts.push(account(
            FIRST_ID + i as i64,
            login(i, is_org(i)),
            kind,
            profile,
        ));
    }
    let bot = data.accounts.len();
    let p = profile(&mut rng, OwnerKind::Bot);
    data.accounts
        .push(account(BOT_ID, BOT.into(), OwnerKind::Bot, p));
    let suspended = data.accounts.len();
    let p = profile(&mut rng, OwnerKind::User);
    let mut gone = account(SUSPENDED_ID, SUSPENDED.into(), OwnerKind::User, p);
    gone.suspended = true;
    data.accounts.push(gone);

    // One link to an earlier user each: connected.
    for i in 1..n {
        let mut j = (rng.random_range(0.0f64..1.0).powi(2) * i as f64) as usize;
        if is_org(j) {
            j = 0;
        }
        if is_org(i) || rng.random_bool(0.5) {
            follow(data, base + j, base + i);
        } else {
            follow(data, base + i, base + j);
        }
    }
    for i in 2..n {
        if !is_org(i) && rng.random_bool(g.celebrity_share) {
            follow(data, base + i, base + 1);
        }
    }
    for i in 0..n {
        if is_org(i) {
            continue;
        }
        for _ in 0..long_tail(&mut rng, g.follows_per_developer) {
            let v = (rng.random_range(0.0f64..1.0).powi(2) * n as f64) as usize;
            follow(data, base + i, base + v);
        }
    }
    follow(data, base, bot);
    follow(data, base, suspended);

    let first_repo = data.repos.len();
    for i in 0..n {
        let count = long_tail(&mut rng, g.repos_per_developer).max(usize::from(is_org(i)));
        for _ in 0..count {
            let k = data.repos.len() - first_repo;
            let repo = repo(data, base + i, k, &mut rng);
            data.accounts[base + i].repos.push(data.repos.len());
            data.repos.push(repo);
        }
    }
    let repos = data.repos.len() - first_repo;
    if repos > 0 {
        for i in 0..n {
            if is_org(i) {
                continue;
            }
            for _ in 0..long_tail(&mut rng, g.stars_per_developer) {
                let r =
                    first_repo + (rng.random_range(0.0f64..1.0).powi(2) * repos as f64) as usize;
                let user = &data.accounts[base + i];
                if user.starred.iter().any(|s| s.repo == r) {
                    continue;
                }
                let from = data.repos[r]
                    .created_at
                    .max(user.profile.created_at)
                    .timestamp();
                let at = rng.random_range(from..=data_now().timestamp().max(from));
                data.accounts[base + i].starred.push(Star {
                    repo: r,
                    starred_at: ts(at),
                });
                data.repos[r].stargazers_count += 1;
                data.repos[r].watchers_count += 1;
            }
        }
    }
    for account in &mut data.accounts[base..] {
        account
            .starred
            .sort_by_key(|s| std::cmp::Reverse(s.starred_at));
    }
}

fn repo(data: &Dataset, owner: usize, k: usize, rng: &mut StdRng) -> RepoPayload {
    let account = &data.accounts[owner];
    let id = FIRST_REPO_ID + k as i64;
    let name = format!("{}-{k}", pick(rng, WORDS));
    let full_name = format!("{}/{name}", account.login);
    let from = account.profile.created_at.timestamp();
    let created = rng.random_range(from..=data_now().timestamp().max(from));
    let pushed = rng.random_range(created..=data_now().timestamp().max(created));
    RepoPayload {
        id,
        node_id: Some(format!("MDEwOlJlcG9zaXRvcnk{id}")),
        html_url: format!("https://github.com/{full_name}"),
        url: Some(format!("https://api.github.com/repos/{full_name}")),
        description: rng
            .random_bool(0.8)
            .then(|| format!("A {} for {}", pick(rng, WORDS), pick(rng, WORDS))),
        homepage: None,
        language: rng
            .random_bool(0.9)
            .then(|| LANGUAGES[rng.random_range(0..LANGUAGES.len())].to_owned()),
        name,
        full_name,
        private: false,
        owner: account.owner(),
        fork: rng.random_bool(0.1),
        stargazers_count: 0,
        watchers_count: 0,
        forks_count: rng.random_range(0..20),
        open_issues_count: rng.random_range(0..30),
        size: rng.random_range(1..50_000),
        default_branch: Some("main".into()),
        topics: Vec::new(),
        license: None,
        archived: false,
        disabled: false,
        visibility: Some("public".into()),
        created_at: ts(created),
        updated_at: ts(pushed),
        pushed_at: Some(ts(pushed)),
        score: None,
    }
}

/// Sunday 00:00 UTC of the week `at` falls in, as unix seconds.
pub fn week_of(at: DateTime<chrono::Utc>) -> i64 {
    // 1970-01-01 was a Thursday: Sunday-aligned weeks start 4 days earlier.
    let shifted = at.timestamp() + 4 * 86_400;
    shifted - shifted.rem_euclid(7 * 86_400) - 4 * 86_400
}
