//! The developer graph: developers and repositories as keyset-paged lists,
//! one by name or GitHub id, their related lists and star history; the rate
//! budget's view; the task list and queueing a task.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::orgs::encode;
use crate::{ApiClient, ClientError, Task};

/// `GET /v1/developers` and `/v1/repositories`: a page of a filtered list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ListPage<T> {
    /// Exact up to 10,000 rows, else the planner's estimate.
    pub count: i64,
    pub count_estimated: bool,
    /// The next page's path and query, `None` on the last page.
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A related list (followers, following, starred, stargazers), by id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RelatedPage<T> {
    pub next: Option<String>,
    pub results: Vec<T>,
}

/// A developer as last synced (`state: known` for one only met in a list).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Developer {
    pub id: i64,
    pub login: String,
    pub kind: String,
    pub avatar_url: Option<String>,
    pub html_url: Option<String>,
    pub name: Option<String>,
    pub company: Option<String>,
    pub blog: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub hireable: Option<bool>,
    pub public_repos: Option<i32>,
    pub followers: Option<i32>,
    pub following: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    /// `known`, `synced` or `gone`.
    pub state: String,
    pub depth: i32,
    pub synced_at: Option<DateTime<Utc>>,
    pub truncated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub id: i64,
    pub full_name: String,
    pub owner_id: i64,
    pub description: Option<String>,
    pub language: Option<String>,
    pub stargazers_count: i64,
    pub forks_count: i64,
    pub html_url: String,
    pub fork: bool,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub pushed_at: Option<DateTime<Utc>>,
    /// `listed`, `restricted` or `unknown`.
    pub stargazers: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StarredRepository {
    pub starred_at: Option<DateTime<Utc>>,
    pub repository: Repository,
}

/// `GET /v1/repositories/{owner}/{name}/star-history`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StarHistory {
    pub full_name: String,
    pub stargazers_count: i64,
    /// Oldest week first.
    pub weeks: Vec<StarWeek>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StarWeek {
    pub week: DateTime<Utc>,
    pub stars: i64,
    pub cumulative: i64,
}

/// `GET /v1/rate_limit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RateLimit {
    pub buckets: Vec<RateBucket>,
    pub pauses: Vec<RatePause>,
    pub forecast: Forecast,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RateBucket {
    /// A token id (a short hash), never the token.
    pub credential: String,
    pub resource: String,
    pub limit: u64,
    pub remaining: u64,
    pub reset: Option<DateTime<Utc>>,
    pub reserve: u64,
    pub paused_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RatePause {
    pub credential: String,
    pub resource: String,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Forecast {
    pub queued_jobs: i64,
    pub running_jobs: i64,
    pub finished_jobs: i64,
    pub window_secs: u64,
    pub jobs_per_minute: f64,
    pub blocked_until: Option<DateTime<Utc>>,
    pub estimated_finish: Option<DateTime<Utc>>,
    /// Why there is no estimate, when there is none.
    pub reason: Option<String>,
}

/// `GET /v1/tasks`: the kinds one may queue, and a page of recent jobs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskList {
    pub kinds: Vec<TaskKind>,
    pub jobs: Vec<Task>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskKind {
    pub kind: String,
    /// The arguments' JSON Schema.
    pub args: Value,
}

/// `POST /v1/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedTask {
    pub id: i64,
    pub kind: String,
    /// False when a live job with the same dedup key answered instead.
    pub new: bool,
}

/// `?a=1&b=2` from pairs, each value percent-encoded; empty for none.
fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", joined.join("&"))
}

/// `owner/name` as two encoded path segments.
fn repo_path(full_name: &str) -> String {
    match full_name.split_once('/') {
        Some((owner, name)) => format!("{}/{}", encode(owner), encode(name)),
        None => encode(full_name),
    }
}

impl ApiClient {
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call_json(Method::GET, path, false, None).await
    }

    /// A GET where a 404 is `None`.
    async fn get_found<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ClientError> {
        match self.get_json(path).await {
            Ok(found) => Ok(Some(found)),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Follows a page's `next` or `previous` (a path and query on this API).
    pub async fn follow<T: DeserializeOwned>(&self, link: &str) -> Result<T, ClientError> {
        self.get_json(link).await
    }

    /// `GET /v1/developers` with filters and order as query pairs
    /// (`sort`, `direction`, `per_page`, `followers_min`, `q`, ...).
    pub async fn developers(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<ListPage<Developer>, ClientError> {
        self.get_json(&format!("/v1/developers{}", query(pairs)))
            .await
    }

    /// `GET /v1/developers/{login}` (a former login finds it too).
    pub async fn developer(&self, login: &str) -> Result<Option<Developer>, ClientError> {
        self.get_found(&format!("/v1/developers/{}", encode(login)))
            .await
    }

    pub async fn developer_by_id(&self, id: i64) -> Result<Option<Developer>, ClientError> {
        self.get_found(&format!("/v1/developers/by-id/{id}")).await
    }

    pub async fn followers(
        &self,
        login: &str,
        pairs: &[(&str, &str)],
    ) -> Result<RelatedPage<Developer>, ClientError> {
        let path = format!("/v1/developers/{}/followers{}", encode(login), query(pairs));
        self.get_json(&path).await
    }

    pub async fn following(
        &self,
        login: &str,
        pairs: &[(&str, &str)],
    ) -> Result<RelatedPage<Developer>, ClientError> {
        let path = format!("/v1/developers/{}/following{}", encode(login), query(pairs));
        self.get_json(&path).await
    }

    pub async fn starred(
        &self,
        login: &str,
        pairs: &[(&str, &str)],
    ) -> Result<RelatedPage<StarredRepository>, ClientError> {
        let path = format!("/v1/developers/{}/starred{}", encode(login), query(pairs));
        self.get_json(&path).await
    }

    /// `GET /v1/repositories` (`sort`, `language`, `stars_min`, `q`, ...).
    pub async fn repositories(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<ListPage<Repository>, ClientError> {
        self.get_json(&format!("/v1/repositories{}", query(pairs)))
            .await
    }

    /// `GET /v1/repositories/{owner}/{name}` (a former name finds it too).
    pub async fn repository(&self, full_name: &str) -> Result<Option<Repository>, ClientError> {
        self.get_found(&format!("/v1/repositories/{}", repo_path(full_name)))
            .await
    }

    pub async fn repository_by_id(&self, id: i64) -> Result<Option<Repository>, ClientError> {
        self.get_found(&format!("/v1/repositories/by-id/{id}"))
            .await
    }

    pub async fn stargazers(
        &self,
        full_name: &str,
        pairs: &[(&str, &str)],
    ) -> Result<RelatedPage<Developer>, ClientError> {
        let path = format!(
            "/v1/repositories/{}/stargazers{}",
            repo_path(full_name),
            query(pairs)
        );
        self.get_json(&path).await
    }

    pub async fn star_history(&self, full_name: &str) -> Result<StarHistory, ClientError> {
        let path = format!("/v1/repositories/{}/star-history", repo_path(full_name));
        self.get_json(&path).await
    }

    /// `GET /v1/rate_limit` (admin).
    pub async fn rate_limit(&self) -> Result<RateLimit, ClientError> {
        self.call_json(Method::GET, "/v1/rate_limit", true, None)
            .await
    }

    /// `GET /v1/tasks` (`kind`, `status`, `per_page`, `cursor`).
    pub async fn tasks(&self, pairs: &[(&str, &str)]) -> Result<TaskList, ClientError> {
        self.get_json(&format!("/v1/tasks{}", query(pairs))).await
    }

    /// `POST /v1/tasks` (admin): queues `kind` with `args`.
    pub async fn create_task(&self, kind: &str, args: Value) -> Result<QueuedTask, ClientError> {
        let body = json!({ "kind": kind, "args": args });
        self.call_json(Method::POST, "/v1/tasks", true, Some(&body))
            .await
    }
}
