//! The simulated GitHub, generated from the seed at start: the topics'
//! repositories and their owners (`topics`), every account with its follow
//! edges, stars, gists and organisation members (`accounts`), and
//! contributor statistics computed per repository on demand
//! (`contributors`). The same settings give the same data.

mod accounts;
mod contributors;
pub mod graph;
mod topics;

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use hubpulse_domain::wire::RepoPayload;

pub use accounts::{Account, Gist, GistFile};

use crate::settings::SimSettings;

/// The data set's "now": timestamps never pass it, so the same seed serves
/// the same bytes whenever it runs.
pub fn data_now() -> DateTime<Utc> {
    ts(1_793_491_200) // 2026-11-01T00:00:00Z
}

pub(crate) fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

pub struct Dataset {
    pub repos: Vec<RepoPayload>,
    /// Indexes into `repos` of each topic's repositories.
    pub topics: HashMap<String, Vec<usize>>,
    /// Users, organisations and bots; indexes into it link them.
    pub accounts: Vec<Account>,
    /// Bumped on every change, so ETags of changed pages change.
    pub generation: u64,
    /// Lowercased login → index into `accounts` (logins are case-insensitive).
    logins: HashMap<String, usize>,
    /// Account id → index into `accounts`.
    account_ids: HashMap<i64, usize>,
    /// Repository id → index into `repos`.
    repo_ids: HashMap<i64, usize>,
    /// Lowercased former full name → index into `repos`: renamed
    /// repositories, whose old name answers 301.
    former: HashMap<String, usize>,
}

/// Where `GET /repos/{owner}/{name}` leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Index into `repos`.
    Here(usize),
    /// Renamed or transferred: the repository's id, for the 301.
    Moved(i64),
    Missing,
}

impl Dataset {
    pub fn generate(settings: &SimSettings) -> Self {
        let generated = topics::generate(settings.seed, &settings.topics);
        let mut data = Dataset {
            repos: generated.repos,
            topics: generated.topics,
            accounts: Vec::new(),
            generation: 0,
            logins: HashMap::new(),
            account_ids: HashMap::new(),
            repo_ids: HashMap::new(),
            former: HashMap::new(),
        };
        accounts::populate(&mut data, generated.owners, settings);
        graph::populate(&mut data, settings);
        data.repo_ids = data
            .repos
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        data.logins = data
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.login.to_lowercase(), i))
            .collect();
        data.account_ids = data
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i))
            .collect();
        data
    }

    pub fn account_by_login(&self, login: &str) -> Option<&Account> {
        self.logins
            .get(&login.to_lowercase())
            .map(|&i| &self.accounts[i])
    }

    pub fn account_by_id(&self, id: i64) -> Option<&Account> {
        self.account_ids.get(&id).map(|&i| &self.accounts[i])
    }

    pub fn repo_by_id(&self, id: i64) -> Option<usize> {
        self.repo_ids.get(&id).copied()
    }

    /// A repository by `owner/name`, case-insensitively; a former name leads
    /// to its id.
    pub fn lookup(&self, owner: &str, name: &str) -> Lookup {
        let full_name = format!("{owner}/{name}").to_lowercase();
        let same = |i: &usize| self.repos[*i].full_name.eq_ignore_ascii_case(&full_name);
        // Through the owner's account when there is one; repositories added
        // by `PUT /_sim/topics` have owners of their own, found by a scan.
        let here = match self.account_by_login(owner) {
            Some(account) => account.repos.iter().copied().find(same),
            None => (0..self.repos.len()).find(same),
        };
        match (here, self.former.get(&full_name)) {
            (Some(i), _) => Lookup::Here(i),
            (None, Some(&i)) => Lookup::Moved(self.repos[i].id),
            (None, None) => Lookup::Missing,
        }
    }

    /// The names a repository had before, as `owner/name`.
    pub fn former_names(&self, repo: usize) -> Vec<String> {
        let mut names: Vec<String> = self
            .former
            .iter()
            .filter(|&(_, &i)| i == repo)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Renames repository `id` within its owner; its old name then answers
    /// 301. `None` when there is no such repository or the owner already
    /// has one of that name.
    pub fn rename_repo(&mut self, id: i64, name: &str) -> Option<String> {
        let i = self.repo_by_id(id)?;
        let owner = self.repos[i].owner.login.clone();
        if let Lookup::Here(other) = self.lookup(&owner, name)
            && other != i
        {
            return None;
        }
        let old = self.repos[i].full_name.to_lowercase();
        let full_name = format!("{owner}/{name}");
        self.former.remove(&full_name.to_lowercase());
        if old != full_name.to_lowercase() {
            self.former.insert(old, i);
        }
        let repo = &mut self.repos[i];
        repo.name = name.to_owned();
        repo.html_url = format!("https://github.com/{full_name}");
        repo.url = Some(format!("https://api.github.com/repos/{full_name}"));
        repo.full_name = full_name.clone();
        self.generation += 1;
        Some(full_name)
    }

    /// Renames account `id`, as its owner would on GitHub: the old login
    /// answers 404 from now on (GitHub keeps no redirect for users), its
    /// repositories move with it and their old names answer 301. `None`
    /// when there is no such account or the login is taken.
    pub fn rename_user(&mut self, id: i64, login: &str) -> Option<String> {
        let i = *self.account_ids.get(&id)?;
        if self
            .logins
            .get(&login.to_lowercase())
            .is_some_and(|&other| other != i)
        {
            return None;
        }
        let old = self.accounts[i].login.clone();
        self.logins.remove(&old.to_lowercase());
        self.logins.insert(login.to_lowercase(), i);
        self.accounts[i].login = login.to_owned();
        for r in self.accounts[i].repos.clone() {
            self.former
                .insert(self.repos[r].full_name.to_lowercase(), r);
            let repo = &mut self.repos[r];
            let full_name = format!("{login}/{}", repo.name);
            repo.owner.login = login.to_owned();
            repo.owner.html_url = Some(format!("https://github.com/{login}"));
            repo.html_url = format!("https://github.com/{full_name}");
            repo.url = Some(format!("https://api.github.com/repos/{full_name}"));
            repo.full_name = full_name;
        }
        self.generation += 1;
        Some(login.to_owned())
    }

    /// Who starred repository `repo` and when, oldest first (GitHub's order).
    pub fn stargazers(&self, repo: usize) -> Vec<(usize, DateTime<Utc>)> {
        let mut stars: Vec<(usize, DateTime<Utc>)> = self
            .accounts
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                a.starred
                    .iter()
                    .find(|s| s.repo == repo)
                    .map(|s| (i, s.starred_at))
            })
            .collect();
        stars.sort_by_key(|&(i, at)| (at, i));
        stars
    }
}
