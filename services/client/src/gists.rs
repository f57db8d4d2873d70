//! Tracked users' gists: tracking, scans and deliveries, what is new since
//! a cursor or a visit, and the Pipedrive outbox.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{ApiClient, ClientError};

#[derive(Debug, Clone, Deserialize)]
pub struct TrackedUser {
    pub login: String,
    pub github_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub deal_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrackedUserList {
    pub users: Vec<TrackedUser>,
    pub next_after: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrackedUserChange {
    pub login: String,
    pub github_id: i64,
    pub tracked: bool,
    pub changed: bool,
    pub job_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GistJobs {
    pub jobs: Vec<GistJob>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GistJob {
    pub id: i64,
    pub kind: String,
    pub user_id: i64,
    pub new: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GistFile {
    pub gist_id: String,
    pub filename: String,
    pub html_url: String,
    pub language: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub gone: bool,
    pub activity_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LatestGists {
    pub login: String,
    pub files: Vec<GistFile>,
    pub next_cursor: String,
    pub more: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GistOutbox {
    pub login: String,
    pub depth: i64,
    pub parked: i64,
    pub oldest_age_secs: f64,
    pub parked_files: Vec<ParkedFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ParkedFile {
    pub gist_id: String,
    pub filename: String,
    pub reason: String,
}

impl ApiClient {
    /// `POST /v1/tracked-users` (admin).
    pub async fn track_user(&self, login: &str) -> Result<TrackedUserChange, ClientError> {
        let body = json!({ "login": login });
        self.call_json(Method::POST, "/v1/tracked-users", true, Some(&body))
            .await
    }

    /// `GET /v1/tracked-users`, one page.
    pub async fn tracked_users(&self, after: Option<&str>) -> Result<TrackedUserList, ClientError> {
        let path = match after {
            Some(after) => format!("/v1/tracked-users?after={after}"),
            None => "/v1/tracked-users".into(),
        };
        self.call_json(Method::GET, &path, false, None).await
    }

    /// `DELETE /v1/tracked-users/{login}` (admin); false when it was not tracked.
    pub async fn untrack_user(&self, login: &str) -> Result<bool, ClientError> {
        let path = format!("/v1/tracked-users/{login}");
        match self.call(Method::DELETE, &path, true, None).await {
            Ok(_) => Ok(true),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/tracked-users/scan` (admin): this window's scans.
    pub async fn scan_gists(&self) -> Result<GistJobs, ClientError> {
        self.call_json(Method::POST, "/v1/tracked-users/scan", true, None)
            .await
    }

    /// `POST /v1/tracked-users/{login}/scan` (admin): a scan now.
    pub async fn scan_user_gists(&self, login: &str) -> Result<GistJobs, ClientError> {
        self.call_json(
            Method::POST,
            &format!("/v1/tracked-users/{login}/scan"),
            true,
            None,
        )
        .await
    }

    /// `POST /v1/tracked-users/deliver` (admin): the delivery sweep.
    pub async fn deliver_gists(&self) -> Result<GistJobs, ClientError> {
        self.call_json(Method::POST, "/v1/tracked-users/deliver", true, None)
            .await
    }

    /// `GET /v1/tracked-users/{login}/gists/latest?cursor=`.
    pub async fn latest_gists(
        &self,
        login: &str,
        cursor: Option<&str>,
    ) -> Result<LatestGists, ClientError> {
        let path = match cursor {
            Some(cursor) => format!("/v1/tracked-users/{login}/gists/latest?cursor={cursor}"),
            None => format!("/v1/tracked-users/{login}/gists/latest"),
        };
        self.call_json(Method::GET, &path, false, None).await
    }

    /// `POST /v1/tracked-users/{login}/gists/visits`.
    pub async fn visit_gists(
        &self,
        login: &str,
        subscriber: &str,
    ) -> Result<LatestGists, ClientError> {
        let body = json!({ "subscriber": subscriber });
        self.call_json(
            Method::POST,
            &format!("/v1/tracked-users/{login}/gists/visits"),
            false,
            Some(&body),
        )
        .await
    }

    /// `GET /v1/tracked-users/{login}/outbox`.
    pub async fn gist_outbox(&self, login: &str) -> Result<GistOutbox, ClientError> {
        self.call_json(
            Method::GET,
            &format!("/v1/tracked-users/{login}/outbox"),
            false,
            None,
        )
        .await
    }
}
