//! The topics' repositories and their owners, generated from a seed: the
//! same bytes for the same seed and sizes. Changed at run time by the
//! `/_sim/topics` admin routes.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use hubpulse_domain::wire::{LicensePayload, OwnerKind, OwnerPayload, RepoPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Dataset, ts};
use crate::settings::TopicSpec;

pub(super) const WORDS: &[&str] = &[
    "kube", "cloud", "mesh", "flux", "helm", "operator", "edge", "stack", "pulse", "graph",
    "forge", "vault", "atlas", "beacon", "cargo", "delta", "ember", "fabric", "grid", "harbor",
    "ion", "jet", "kite", "lumen", "nimbus", "orbit", "prism", "quartz", "relay", "signal", "tide",
    "umbra", "vector", "wave", "xenon", "zephyr",
];
pub(super) const LANGUAGES: &[&str] = &[
    "Go",
    "Rust",
    "Python",
    "TypeScript",
    "Java",
    "Shell",
    "C++",
    "JavaScript",
    "HCL",
    "Ruby",
];
pub(super) const LICENSES: &[(&str, &str, &str)] = &[
    ("apache-2.0", "Apache License 2.0", "Apache-2.0"),
    ("mit", "MIT License", "MIT"),
    ("gpl-3.0", "GNU General Public License v3.0", "GPL-3.0"),
    (
        "bsd-3-clause",
        "BSD 3-Clause \"New\" or \"Revised\" License",
        "BSD-3-Clause",
    ),
    ("other", "Other", "NOASSERTION"),
];

/// What `generate` makes: the owners, their repositories, and each topic's
/// members as indexes into `repos`.
pub(super) struct Generated {
    pub owners: Vec<OwnerPayload>,
    pub repos: Vec<RepoPayload>,
    pub topics: HashMap<String, Vec<usize>>,
}

/// The avatar, node id and page of an account, from its id and login.
pub(super) fn owner_payload(id: i64, login: String, kind: OwnerKind) -> OwnerPayload {
    OwnerPayload {
        id,
        node_id: Some(format!("MDQ6VXNlcj{id}")),
        avatar_url: Some(format!("https://avatars.githubusercontent.com/u/{id}?v=4")),
        html_url: Some(format!("https://github.com/{login}")),
        login,
        kind,
        site_admin: false,
    }
}

fn owner(rng: &mut StdRng, id: i64) -> OwnerPayload {
    let org = rng.random_bool(0.3);
    let login = format!(
        "{}-{}{}",
        WORDS[rng.random_range(0..WORDS.len())],
        if org { "org" } else { "dev" },
        id
    );
    let kind = if org {
        OwnerKind::Organization
    } else {
        OwnerKind::User
    };
    owner_payload(id, login, kind)
}

pub(super) fn generate(seed: u64, topics: &[TopicSpec]) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let total: usize = topics.iter().map(|t| t.size).sum();
    let owners: Vec<OwnerPayload> = (0..(total / 6).max(20))
        .map(|i| owner(&mut rng, 1000 + i as i64))
        .collect();
    let start = Utc
        .with_ymd_and_hms(2008, 2, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp();
    let end = Utc
        .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp();
    let mut repos = Vec::with_capacity(total);
    let mut index: HashMap<String, Vec<usize>> = topics
        .iter()
        .map(|t| (t.name.clone(), Vec::with_capacity(t.size)))
        .collect();
    for spec in topics {
        for _ in 0..spec.size {
            let i = repos.len();
            let id = 100_000 + (i as i64) * 7;
            let owner = owners[rng.random_range(0..owners.len())].clone();
            let name = format!(
                "{}-{}-{}",
                WORDS[rng.random_range(0..WORDS.len())],
                WORDS[rng.random_range(0..WORDS.len())],
                i
            );
            let created = rng.random_range(start..end);
            let updated = rng.random_range(created..now);
            let pushed = rng
                .random_bool(0.95)
                .then(|| rng.random_range(created..=updated));
            // A long tail: most repositories have few stars, and many share a count.
            let stars = (rng.random_range(0.0f64..1.0).powi(4) * 90_000.0) as i64;
            let mut topic_names = vec![spec.name.clone()];
            for other in topics {
                if other.name != spec.name && rng.random_bool(0.03) {
                    topic_names.push(other.name.clone());
                }
            }
            for t in &topic_names {
                if let Some(list) = index.get_mut(t) {
                    list.push(i);
                }
            }
            topic_names.push(WORDS[rng.random_range(0..WORDS.len())].to_owned());
            let license = rng.random_bool(0.8).then(|| {
                let (key, name, spdx) = LICENSES[rng.random_range(0..LICENSES.len())];
                LicensePayload {
                    key: key.into(),
                    name: name.into(),
                    spdx_id: Some(spdx.into()),
                    url: Some(format!("https://api.github.com/licenses/{key}")),
                    node_id: Some(format!("MDc6TGljZW5zZ{key}")),
                }
            });
            let full_name = format!("{}/{}", owner.login, name);
            repos.push(RepoPayload {
                id,
                node_id: Some(format!("MDEwOlJlcG9zaXRvcnk{id}")),
                html_url: format!("https://github.com/{full_name}"),
                url: Some(format!("https://api.github.com/repos/{full_name}")),
                description: rng.random_bool(0.85).then(|| {
                    format!(
                        "A {} for {}",
                        WORDS[rng.random_range(0..WORDS.len())],
                        spec.name
                    )
                }),
                homepage: rng
                    .random_bool(0.3)
                    .then(|| format!("https://{name}.example.org")),
                language: rng
                    .random_bool(0.9)
                    .then(|| LANGUAGES[rng.random_range(0..LANGUAGES.len())].to_owned()),
                name,
                full_name,
                private: false,
                owner,
                fork: rng.random_bool(0.05),
                stargazers_count: stars,
                watchers_count: stars,
                forks_count: stars / rng.random_range(3..20),
                open_issues_count: rng.random_range(0..300),
                size: rng.random_range(0..500_000),
                default_branch: Some("main".into()),
                topics: topic_names,
                license,
                archived: rng.random_bool(0.04),
                disabled: false,
                visibility: Some("public".into()),
                created_at: ts(created),
                updated_at: ts(updated),
                pushed_at: pushed.map(ts),
                score: Some(1.0),
            });
        }
    }
    Generated {
        owners,
        repos,
        topics: index,
    }
}

impl Dataset {
    /// Changes a share of a topic's repositories (stars, push time), as
    /// activity on GitHub would. Returns how many changed.
    pub fn touch(&mut self, topic: &str, share: f64, seed: u64) -> usize {
        let Some(members) = self.topics.get(topic) else {
            return 0;
        };
        let mut rng = StdRng::seed_from_u64(seed ^ self.generation.wrapping_mul(0x9E37_79B9));
        let now = Utc::now();
        let mut changed = 0;
        for &i in members {
            if rng.random_bool(share.clamp(0.0, 1.0)) {
                let repo = &mut self.repos[i];
                repo.stargazers_count += 1;
                repo.watchers_count += 1;
                repo.pushed_at = Some(now);
                repo.updated_at = now;
                changed += 1;
            }
        }
        self.generation += 1;
        changed
    }

    /// Adds repositories to (or creates) a topic until it has `size` members.
    pub fn grow(&mut self, topic: &str, size: usize, seed: u64) {
        let have = self.topics.get(topic).map_or(0, Vec::len);
        if size <= have {
            return;
        }
        let extra = generate(
            seed ^ 0xA5A5 ^ self.repos.len() as u64,
            &[TopicSpec {
                name: topic.into(),
                size: size - have,
            }],
        );
        let base = self.repos.len();
        let id_base = self.repos.iter().map(|r| r.id).max().unwrap_or(0) + 7;
        let members = self.topics.entry(topic.to_owned()).or_default();
        for (offset, mut repo) in extra.repos.into_iter().enumerate() {
            repo.id = id_base + offset as i64 * 7;
            repo.name = format!("{}-x{}", repo.name, base + offset);
            repo.full_name = format!("{}/{}", repo.owner.login, repo.name);
            repo.html_url = format!("https://github.com/{}", repo.full_name);
            members.push(base + offset);
            self.repo_ids.insert(repo.id, base + offset);
            self.repos.push(repo);
        }
        self.generation += 1;
    }

    /// The topic holds `size` repositories from now on: new ones join, or
    /// the last-added leave, as repositories dropping a topic on GitHub do
    /// (each one's own `topics` list forgets it too).
    pub fn resize(&mut self, topic: &str, size: usize, seed: u64) {
        let have = self.topics.get(topic).map_or(0, Vec::len);
        if size >= have {
            self.grow(topic, size, seed);
            return;
        }
        let left = self
            .topics
            .get_mut(topic)
            .map(|members| members.split_off(size))
            .unwrap_or_default();
        for i in left {
            self.repos[i].topics.retain(|t| t != topic);
        }
        self.generation += 1;
    }
}
