//! Accounts: the topics' owners (generated users and organisations), the
//! named accounts from settings, and two bots; the generated users' follow
//! edges, stars, gists, and the organisations' members.

use chrono::{DateTime, Utc};
use hubpulse_domain::wire::{OwnerKind, OwnerPayload, RepoPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::topics::{LANGUAGES, WORDS, owner_payload};
use super::{Dataset, data_now, ts};
use crate::settings::{NamedAccount, SimSettings};

const CITIES: &[&str] = &[
    "Berlin",
    "Lisbon",
    "Nairobi",
    "São Paulo",
    "Seoul",
    "Toronto",
    "Wellington",
    "Zürich",
];

/// One GitHub account. Links to other accounts and to repositories are
/// indexes into `Dataset::accounts` and `Dataset::repos`.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub kind: OwnerKind,
    pub profile: Profile,
    /// Owned repositories, in order of creation.
    pub repos: Vec<usize>,
    pub followers: Vec<usize>,
    pub following: Vec<usize>,
    pub starred: Vec<Star>,
    pub gists: Vec<Gist>,
    /// An organisation's members.
    pub members: Vec<usize>,
    /// Suspended: its profile and lists answer 404, yet others' lists
    /// still show it (GitHub's caches do).
    pub suspended: bool,
}

impl Account {
    /// The account as repositories embed it (`owner`).
    pub fn owner(&self) -> OwnerPayload {
        owner_payload(self.id, self.login.clone(), self.kind)
    }
}

/// What `GET /users/{login}` adds to the simple user; nullable as on GitHub.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: Option<String>,
    pub company: Option<String>,
    /// `""` rather than null when unset, as GitHub writes it.
    pub blog: String,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub hireable: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct Star {
    pub repo: usize,
    pub starred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gist {
    /// 32 hex digits (GitHub's older gists have numeric-looking ids).
    pub id: String,
    pub description: Option<String>,
    pub public: bool,
    /// Keyed by name on the wire; a gist may have none.
    pub files: Vec<GistFile>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GistFile {
    pub filename: String,
    /// Null for types GitHub does not recognise.
    pub language: Option<String>,
    pub size: u64,
}

pub(super) fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// A count with mean `mean` and a long tail.
pub(super) fn long_tail(rng: &mut StdRng, mean: usize) -> usize {
    (rng.random_range(0.0f64..1.0).powi(3) * 4.0 * mean as f64) as usize
}

pub(super) fn profile(rng: &mut StdRng, kind: OwnerKind) -> Profile {
    let created = rng.random_range(ts(1_199_145_600).timestamp()..ts(1_735_689_600).timestamp());
    let capital = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let name = rng.random_bool(0.7).then(|| {
        format!(
            "{} {}",
            capital(pick(rng, WORDS)),
            capital(pick(rng, WORDS))
        )
    });
    Profile {
        name,
        company: rng
            .random_bool(0.3)
            .then(|| format!("@{}-inc", pick(rng, WORDS))),
        blog: if rng.random_bool(0.4) {
            format!("https://{}.example.org", pick(rng, WORDS))
        } else {
            String::new()
        },
        location: rng.random_bool(0.6).then(|| pick(rng, CITIES).to_owned()),
        bio: (kind == OwnerKind::User && rng.random_bool(0.4))
            .then(|| format!("I build {} things", pick(rng, WORDS))),
        hireable: rng.random_bool(0.2).then_some(true),
        created_at: ts(created),
        updated_at: ts(rng.random_range(created..data_now().timestamp())),
    }
}

pub(super) fn account(id: i64, login: String, kind: OwnerKind, profile: Profile) -> Account {
    Account {
        id,
        login,
        kind,
        profile,
        repos: Vec::new(),
        followers: Vec::new(),
        following: Vec::new(),
        starred: Vec::new(),
        gists: Vec::new(),
        members: Vec::new(),
        suspended: false,
    }
}

/// Fills `data.accounts` from the topics' `owners`, the named accounts and
/// two bots, then links the generated ones. Draws from its own generator,
/// so the topics' data does not depend on these settings.
pub(super) fn populate(data: &mut Dataset, owners: Vec<OwnerPayload>, settings: &SimSettings) {
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0xACC0_0475);
    let generated = owners.len();
    let topic_repos = data.repos.len();
    for owner in owners {
        let profile = profile(&mut rng, owner.kind);
        data.accounts
            .push(account(owner.id, owner.login, owner.kind, profile));
    }
    // Owner ids are 1000 + their index (topics::generate).
    for (i, repo) in data.repos.iter().enumerate() {
        if let Some(owner) = usize::try_from(repo.owner.id - 1000)
            .ok()
            .and_then(|at| data.accounts.get_mut(at))
        {
            owner.repos.push(i);
        }
    }
    for (k, named) in settings.accounts.named.iter().enumerate() {
        let id = 9_000_001 + k as i64;
        let profile = profile(&mut rng, named.kind);
        let mut account = account(id, named.login.clone(), named.kind, profile);
        for n in 0..named.repos {
            account.repos.push(data.repos.len());
            data.repos.push(named_repo(&account, named, k, n, &mut rng));
            if n < named.renamed_repos {
                data.former.insert(
                    format!("{}/repo-{n:03}", named.login).to_lowercase(),
                    data.repos.len() - 1,
                );
            }
        }
        data.accounts.push(account);
    }
    for (id, login) in [
        (49_699_333, "dependabot[bot]"),
        (41_898_282, "github-actions[bot]"),
    ] {
        let profile = profile(&mut rng, OwnerKind::Bot);
        data.accounts
            .push(account(id, login.into(), OwnerKind::Bot, profile));
    }
    link(data, generated, topic_repos, settings, &mut rng);
}

/// `{login}/repo-NNN`: deterministic from its place alone, so a test knows
/// what to expect whatever the seed.
fn named_repo(
    account: &Account,
    named: &NamedAccount,
    k: usize,
    n: usize,
    rng: &mut StdRng,
) -> RepoPayload {
    let id = 90_000_000 + (k as i64) * 100_000 + n as i64;
    let name = if n < named.renamed_repos {
        format!("repo-{n:03}-renamed")
    } else {
        format!("repo-{n:03}")
    };
    let full_name = format!("{}/{name}", account.login);
    let empty = n >= named.repos - named.empty_repos;
    let created = account.profile.created_at.timestamp() + (n as i64) * 86_400;
    let pushed = (!empty).then(|| ts(created + rng.random_range(0..86_400 * 365)));
    RepoPayload {
        id,
        node_id: Some(format!("MDEwOlJlcG9zaXRvcnk{id}")),
        html_url: format!("https://github.com/{full_name}"),
        url: Some(format!("https://api.github.com/repos/{full_name}")),
        description: Some(format!("Repository {n} of {}", account.login)),
        homepage: None,
        language: (!empty).then(|| LANGUAGES[n % LANGUAGES.len()].to_owned()),
        name,
        full_name,
        private: false,
        owner: account.owner(),
        fork: false,
        stargazers_count: (n as i64 * 37) % 500,
        watchers_count: (n as i64 * 37) % 500,
        forks_count: (n as i64 * 7) % 50,
        open_issues_count: (n as i64) % 13,
        size: if empty { 0 } else { 100 + n as i64 },
        default_branch: Some("main".into()),
        topics: Vec::new(),
        license: None,
        archived: false,
        disabled: false,
        visibility: Some("public".into()),
        created_at: ts(created),
        updated_at: pushed.unwrap_or(ts(created)),
        pushed_at: pushed,
        score: None,
    }
}

/// Follow edges, stars and gists of the generated users, members of the
/// generated organisations. Low indexes are followed more: a long tail.
fn link(
    data: &mut Dataset,
    generated: usize,
    topic_repos: usize,
    settings: &SimSettings,
    rng: &mut StdRng,
) {
    let s = &settings.accounts;
    let users: Vec<usize> = (0..generated)
        .filter(|&i| data.accounts[i].kind == OwnerKind::User)
        .collect();
    for &u in &users {
        for _ in 0..long_tail(rng, s.follows_per_user) {
            let v = users[(rng.random_range(0.0f64..1.0).powi(2) * users.len() as f64) as usize];
            if v != u && !data.accounts[u].following.contains(&v) {
                data.accounts[u].following.push(v);
                data.accounts[v].followers.push(u);
            }
        }
        if topic_repos > 0 {
            for _ in 0..long_tail(rng, s.stars_per_user) {
                let repo = rng.random_range(0..topic_repos);
                let from = data.repos[repo]
                    .created_at
                    .max(data.accounts[u].profile.created_at)
                    .timestamp();
                let at = rng.random_range(from..=data_now().timestamp().max(from));
                if !data.accounts[u].starred.iter().any(|s| s.repo == repo) {
                    data.accounts[u].starred.push(Star {
                        repo,
                        starred_at: ts(at),
                    });
                }
            }
        }
        let gists = (0..long_tail(rng, s.gists_per_user))
            .map(|_| gist(rng, data.accounts[u].profile.created_at))
            .collect();
        data.accounts[u].gists = gists;
    }
    let orgs: Vec<usize> = (0..generated)
        .filter(|&i| data.accounts[i].kind == OwnerKind::Organization)
        .collect();
    for org in orgs {
        if users.is_empty() {
            break;
        }
        for _ in 0..long_tail(rng, s.members_per_org) {
            let u = users[rng.random_range(0..users.len())];
            if !data.accounts[org].members.contains(&u) {
                data.accounts[org].members.push(u);
            }
        }
    }
    for account in &mut data.accounts {
        account
            .starred
            .sort_by_key(|s| std::cmp::Reverse(s.starred_at));
    }
}

fn gist(rng: &mut StdRng, after: DateTime<Utc>) -> Gist {
    let created =
        rng.random_range(after.timestamp()..=data_now().timestamp().max(after.timestamp()));
    let files = (0..rng.random_range(0..=3))
        .map(|n| {
            let (ext, language) = [
                ("rs", Some("Rust")),
                ("py", Some("Python")),
                ("md", Some("Markdown")),
                ("xyz", None),
            ][rng.random_range(0..4)];
            GistFile {
                filename: format!("{} notes {n}.{ext}", pick(rng, WORDS)),
                language: language.map(str::to_owned),
                size: rng.random_range(0..20_000),
            }
        })
        .collect();
    Gist {
        id: format!("{:032x}", rng.random::<u128>()),
        description: rng
            .random_bool(0.7)
            .then(|| format!("{} snippets", pick(rng, WORDS))),
        public: true,
        files,
        created_at: ts(created),
        updated_at: ts(rng.random_range(created..=data_now().timestamp().max(created))),
    }
}
