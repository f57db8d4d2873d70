//! GitHub's REST shapes as they travel over the wire: the simulator serializes
//! them, the client deserializes them. Every field GitHub documents as nullable
//! is an `Option`, and collections default to empty, so a `null` or a missing
//! field from the real API never fails a crawl.
//!
//! Both REST API versions the client may pin (`github.api_version`) read
//! into the same types: a field that 2026-03-10 removed is either not read
//! at all (a repository's `has_downloads` and `use_squash_pr_title_as_default`;
//! unknown fields are ignored) or an `Option` (`/rate_limit`'s `rate`; a
//! gist's `history` and `forks` when gists get a type). Never make such a
//! field required.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /search/repositories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage<T> {
    pub total_count: u64,
    pub incomplete_results: bool,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnerKind {
    User,
    Organization,
    Bot,
    /// GitHub adds account types now and then (`Mannequin`, `Enterprise`).
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerPayload {
    pub id: i64,
    pub login: String,
    #[serde(default)]
    pub node_id: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(rename = "type")]
    pub kind: OwnerKind,
    #[serde(default)]
    pub site_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicensePayload {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub spdx_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub node_id: Option<String>,
}

/// A repository as `search/repositories`, `repos/{o}/{r}` and the list
/// endpoints return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoPayload {
    pub id: i64,
    #[serde(default)]
    pub node_id: Option<String>,
    pub name: String,
    pub full_name: String,
    #[serde(default)]
    pub private: bool,
    pub owner: OwnerPayload,
    pub html_url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub stargazers_count: i64,
    #[serde(default)]
    pub watchers_count: i64,
    #[serde(default)]
    pub forks_count: i64,
    #[serde(default)]
    pub open_issues_count: i64,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub topics: Vec<String>,
    #[serde(default)]
    pub license: Option<LicensePayload>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub visibility: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub pushed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub score: Option<f64>,
}

/// One resource of `GET /rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitResource {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// Unix seconds at which the window resets.
    pub reset: i64,
}

/// `GET /rate_limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitReply {
    /// Per bucket (`core`, `search`, `graphql`, ...): the one to read.
    #[serde(default)]
    pub resources: std::collections::BTreeMap<String, RateLimitResource>,
    /// `resources.core` again; removed in API version 2026-03-10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimitResource>,
}

/// GitHub's error body: `{"message": "...", "documentation_url": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /users/{login}` and `GET /user/{id}` (`public-user`): every field
/// but the id, login and type may be missing or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPayload {
    pub id: i64,
    pub login: String,
    #[serde(rename = "type")]
    pub kind: OwnerKind,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub blog: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub bio: Option<String>,
    #[serde(default)]
    pub hireable: Option<bool>,
    #[serde(default)]
    pub twitter_username: Option<String>,
    #[serde(default)]
    pub public_repos: Option<i64>,
    #[serde(default)]
    pub public_gists: Option<i64>,
    #[serde(default)]
    pub followers: Option<i64>,
    #[serde(default)]
    pub following: Option<i64>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An item of `/users/{u}/starred` asked as `application/vnd.github.star+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarredPayload {
    #[serde(default)]
    pub starred_at: Option<DateTime<Utc>>,
    pub repo: RepoPayload,
}

/// An item of `/repos/{o}/{r}/stargazers` as star+json; `user` is null
/// for accounts GitHub removed but still counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StargazerPayload {
    #[serde(default)]
    pub starred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub user: Option<OwnerPayload>,
}

/// A week of `/repos/{o}/{r}/stargazers/history`: stars still held,
/// acquired that week (`week` in unix seconds), by day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StarWeekPayload {
    pub week: i64,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub days: Vec<i64>,
}

/// `/repos/{o}/{r}/stargazers/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StarCountPayload {
    pub count: i64,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nulls_in_every_nullable_field() {
        let raw = r#"{
            "id": 1, "node_id": null, "name": "r", "full_name": "o/r", "private": false,
            "owner": {"id": 2, "login": "o", "node_id": null, "avatar_url": null,
                      "html_url": null, "type": "Mannequin", "site_admin": false},
            "html_url": "https://github.com/o/r", "description": null, "fork": false,
            "url": null, "homepage": null, "language": null, "stargazers_count": 0,
            "forks_count": 0, "open_issues_count": 0, "topics": null, "license": null,
            "default_branch": null, "visibility": null,
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z",
            "pushed_at": null, "score": null
        }"#;
        let repo: RepoPayload = serde_json::from_str(raw).unwrap();
        assert_eq!(repo.owner.kind, OwnerKind::Other);
        assert!(repo.topics.is_empty());
        assert!(repo.pushed_at.is_none());
    }

    #[test]
    fn reads_both_api_versions() {
        let repo = |extra: &str| {
            format!(
                r#"{{"id": 1, "name": "r", "full_name": "o/r",
                    "owner": {{"id": 2, "login": "o", "type": "User"}},
                    "html_url": "https://github.com/o/r",
                    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z"{extra}}}"#
            )
        };
        let old: RepoPayload = serde_json::from_str(&repo(
            r#", "has_downloads": true, "use_squash_pr_title_as_default": false, "master_branch": "main""#,
        ))
        .unwrap();
        let new: RepoPayload = serde_json::from_str(&repo("")).unwrap();
        assert_eq!(old, new);

        let core = r#"{"limit": 5000, "remaining": 4999, "used": 1, "reset": 1700000000}"#;
        let old: RateLimitReply = serde_json::from_str(&format!(
            r#"{{"resources": {{"core": {core}}}, "rate": {core}}}"#
        ))
        .unwrap();
        let new: RateLimitReply =
            serde_json::from_str(&format!(r#"{{"resources": {{"core": {core}}}}}"#)).unwrap();
        assert_eq!(old.resources, new.resources);
        assert_eq!(new.rate, None);
        assert_eq!(new.resources["core"].remaining, 4999);
    }
}
