//! Tracked owners: `/v1/orgs` and an owner's first-time contributors, as
//! JSON pages and as the SVG chart.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{ApiClient, ClientError, RawReply};

/// `GET /v1/orgs`, one owner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrackedOwner {
    /// Lower case.
    pub name: String,
    pub repositories: i64,
    pub created_at: DateTime<Utc>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct OwnerList {
    owners: Vec<TrackedOwner>,
}

/// What `POST /v1/orgs` and `DELETE /v1/orgs/{name}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OwnerChange {
    pub name: String,
    pub tracked: bool,
    /// False when the call changed nothing.
    pub changed: bool,
    /// The `sync_org` job queued, if any.
    pub job_id: Option<i64>,
}

/// `POST /v1/orgs/sync`, one queued sync.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedSync {
    pub id: i64,
    pub kind: String,
    pub owner: String,
    /// False when a sync of the owner was already queued or running.
    pub new: bool,
}

#[derive(Deserialize)]
struct QueuedSyncs {
    jobs: Vec<QueuedSync>,
}

/// The query of `/v1/orgs/{name}/new-contributors` (and of its chart, which
/// ignores the page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthQuery {
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    /// `YYYY-MM`, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// A repository's name, without the owner.
    pub repo: Option<String>,
}

impl MonthQuery {
    fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(page) = self.page {
            parts.push(format!("page={page}"));
        }
        if let Some(size) = self.page_size {
            parts.push(format!("page_size={size}"));
        }
        for (name, value) in [("from", &self.from), ("to", &self.to), ("repo", &self.repo)] {
            if let Some(value) = value {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// One page of first-time contributors: the seed's envelope, plus the
/// repositories whose statistics are missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewContributors {
    pub total_records: i64,
    pub page: i64,
    pub page_size: i64,
    /// By month, then repository.
    pub items: Vec<MonthItem>,
    /// `owner/name` of repositories GitHub never finished computing.
    pub unavailable: Vec<String>,
    /// `owner/name` of repositories still being computed.
    pub computing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MonthItem {
    /// `owner/name`.
    pub repo_name: String,
    /// `YYYY-MM`.
    pub month: String,
    pub number_of_new_contributors: i64,
}

impl ApiClient {
    /// `GET /v1/orgs`.
    pub async fn orgs(&self) -> Result<Vec<TrackedOwner>, ClientError> {
        let list: OwnerList = self.call_json(Method::GET, "/v1/orgs", false, None).await?;
        Ok(list.owners)
    }

    /// `POST /v1/orgs`: tracked from now on, and a sync queued.
    pub async fn track_org(&self, name: &str) -> Result<OwnerChange, ClientError> {
        let body = json!({ "name": name });
        self.call_json(Method::POST, "/v1/orgs", true, Some(&body))
            .await
    }

    /// `DELETE /v1/orgs/{name}`; `None` when it was not tracked.
    pub async fn untrack_org(&self, name: &str) -> Result<Option<OwnerChange>, ClientError> {
        let path = format!("/v1/orgs/{}", segment(name));
        match self.call_json(Method::DELETE, &path, true, None).await {
            Ok(change) => Ok(Some(change)),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/orgs/sync`: a sync of every tracked owner.
    pub async fn sync_orgs(&self) -> Result<Vec<QueuedSync>, ClientError> {
        let queued: QueuedSyncs = self
            .call_json(Method::POST, "/v1/orgs/sync", true, None)
            .await?;
        Ok(queued.jobs)
    }

    /// `GET /v1/orgs/{name}/new-contributors`.
    pub async fn new_contributors(
        &self,
        name: &str,
        query: &MonthQuery,
    ) -> Result<NewContributors, ClientError> {
        let path = format!(
            "/v1/orgs/{}/new-contributors{}",
            segment(name),
            query.to_query()
        );
        self.call_json(Method::GET, &path, false, None).await
    }

    /// `GET /v1/orgs/{name}/new-contributors.svg`: a 200 (the SVG) or a 304
    /// (unchanged since `if_none_match`) is an answer.
    pub async fn new_contributors_svg(
        &self,
        name: &str,
        query: &MonthQuery,
        if_none_match: Option<&str>,
    ) -> Result<RawReply, ClientError> {
        let path = format!(
            "/v1/orgs/{}/new-contributors.svg{}",
            segment(name),
            query.to_query()
        );
        let mut request = self.http.get(self.url(&path));
        if let Some(etag) = if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let call = || format!("GET {path}");
        let reply = self.finish(request, call).await?;
        if reply.status != StatusCode::OK && reply.status != StatusCode::NOT_MODIFIED {
            return Err(crate::status_error(call(), &reply));
        }
        Ok(reply)
    }

    /// The chart's address, for a person's browser.
    pub fn new_contributors_svg_url(&self, name: &str, query: &MonthQuery) -> String {
        self.url(&format!(
            "/v1/orgs/{}/new-contributors.svg{}",
            segment(name),
            query.to_query()
        ))
    }
}

/// A login as one path segment.
fn segment(name: &str) -> String {
    encode(name)
}

/// Percent-encodes all but RFC 3986's unreserved characters, so a value
/// is one path segment or one query value whatever it holds.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
