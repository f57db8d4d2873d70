use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use hubpulse_store::queue;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Rescheduled,
}

impl From<queue::JobStatus> for JobStatus {
    fn from(status: queue::JobStatus) -> Self {
        match status {
            queue::JobStatus::Queued => Self::Queued,
            queue::JobStatus::Running => Self::Running,
            queue::JobStatus::Succeeded => Self::Succeeded,
            queue::JobStatus::Failed => Self::Failed,
            queue::JobStatus::Rescheduled => Self::Rescheduled,
        }
    }
}

/// A job as `GET /v1/tasks/{id}` shows it; every field is always present.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    id: i64,
    kind: String,
    payload: Value,
    #[schema(required = true)]
    dedup_key: Option<String>,
    status: JobStatus,
    priority: i16,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    #[schema(required = true)]
    last_error: Option<String>,
    #[schema(required = true)]
    progress_done: Option<i64>,
    #[schema(required = true)]
    progress_total: Option<i64>,
    /// The finished job's result, shaped by its `kind`.
    #[schema(required = true, value_type = Option<hubpulse_jobs::kinds::JobOutput>)]
    result: Option<Value>,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    started_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    finished_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl JobRecord {
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl From<queue::JobRecord> for JobRecord {
    fn from(job: queue::JobRecord) -> Self {
        Self {
            id: job.id,
            kind: job.kind,
            payload: job.payload,
            dedup_key: job.dedup_key,
            status: job.status.into(),
            priority: job.priority,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            last_error: job.last_error,
            progress_done: job.progress_done,
            progress_total: job.progress_total,
            result: job.result,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            updated_at: job.updated_at,
        }
    }
}

/// A job: status, attempts, progress, last error and result.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "The job id a maintenance call answered with", minimum = 1)),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        (status = 400, description = "Not a job id", body = crate::error::ErrorBody),
        (status = 404, description = "No such job", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    let id: i64 = raw
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest("a job id is a positive whole number".into()))?;
    queue::job(&state.store().conn().await?, id)
        .await?
        .map(|job| Json(job.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}
