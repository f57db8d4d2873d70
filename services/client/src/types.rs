//! The API's replies, as a client reads them. Field names follow the
//! OpenAPI document (`/openapi.json`); the API's tests check both agree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hubpulse_domain::Topic;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    pub status: String,
    pub replica: String,
}

/// Each dependency `/ready` checks: `ok`, or what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Checks {
    pub postgres: String,
    pub migrations: String,
    pub redis: String,
}

/// `GET /ready`: 200 when ready, 503 naming what is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub status: StatusCode,
    pub checks: Checks,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.status == StatusCode::OK
    }
}

/// What `/bootstrap_db` and `/update_cache` answer (202).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedJobs {
    /// One per tracked topic, in topic order.
    pub jobs: Vec<QueuedJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedJob {
    pub id: i64,
    pub kind: String,
    #[serde(default)]
    pub topic: Option<String>,
    /// False when a job for the topic was already queued or running.
    #[serde(default)]
    pub new: bool,
}

impl QueuedJobs {
    /// The job queued for `topic`, if any.
    pub fn for_topic(&self, topic: &str) -> Option<i64> {
        self.jobs
            .iter()
            .find(|j| j.topic.as_deref() == Some(topic))
            .map(|j| j.id)
    }

    pub fn ids(&self) -> Vec<i64> {
        self.jobs.iter().map(|j| j.id).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Rescheduled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rescheduled => "rescheduled",
        }
    }

    /// Succeeded or failed: nothing will run it again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /v1/tasks/{id}`: a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub dedup_key: Option<String>,
    pub status: TaskStatus,
    pub priority: i16,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    /// The job kind's own output once it succeeded.
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// One field of the result (`Value::Null` when absent).
    pub fn result(&self, key: &str) -> &Value {
        self.result
            .as_ref()
            .and_then(|r| r.get(key))
            .unwrap_or(&Value::Null)
    }

    /// The topic of a crawl job's payload.
    pub fn topic(&self) -> Option<&str> {
        self.payload.get("topic")?.as_str()
    }
}

/// What watching a job saw, for reports that tell the story.
#[derive(Debug, Clone)]
pub struct TaskWatch {
    /// The job as last read.
    pub task: Task,
    /// Each status seen, in order, repeats folded.
    pub statuses: Vec<TaskStatus>,
    /// Polls that failed (a replica restarting, Postgres down) and were waited out.
    pub poll_errors: Vec<String>,
    pub waited: Duration,
}

impl TaskWatch {
    pub fn status(&self) -> TaskStatus {
        self.task.status
    }

    pub fn statuses_text(&self) -> String {
        self.statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// `GET /v1/topics`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrackedTopic {
    pub name: Topic,
    pub repositories: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct TopicList {
    pub topics: Vec<TrackedTopic>,
}

/// `POST /v1/topics` and `DELETE /v1/topics/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TopicChange {
    pub name: Topic,
    pub tracked: bool,
    /// False when the call changed nothing (already tracked).
    pub changed: bool,
}

/// `{"error":{"code","message"}}`: every API and nginx error body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorDetail {
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_as_the_api_writes_it() {
        let task: Task = serde_json::from_str(
            r#"{"id":7,"kind":"crawl_topic","payload":{"topic":"rust"},"dedup_key":"crawl_topic:rust",
                "status":"succeeded","priority":0,"attempts":1,"max_attempts":5,
                "run_at":"2024-01-01T00:00:00Z","last_error":null,"progress_done":250,"progress_total":250,
                "result":{"repositories":250,"complete":true},"created_at":"2024-01-01T00:00:00Z",
                "started_at":"2024-01-01T00:00:01Z","finished_at":"2024-01-01T00:00:02Z",
                "updated_at":"2024-01-01T00:00:02Z"}"#,
        )
        .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert!(task.status.is_finished());
        assert_eq!(task.result("repositories"), 250);
        assert_eq!(task.result("missing"), &Value::Null);
        assert_eq!(task.topic(), Some("rust"));
    }

    #[test]
    fn queued_jobs_are_found_by_topic() {
        let jobs: QueuedJobs = serde_json::from_str(
            r#"{"jobs":[{"id":7,"kind":"crawl_topic","topic":"kubernetes","new":true},{"id":9,"kind":"crawl_topic","topic":"rust","new":false}]}"#,
        )
        .unwrap();
        assert_eq!(jobs.for_topic("rust"), Some(9));
        assert_eq!(jobs.for_topic("go"), None);
        assert_eq!(jobs.ids(), [7, 9]);
    }
}
