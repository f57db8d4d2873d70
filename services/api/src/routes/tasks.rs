use axum::Json;
use axum::extract::{Path, State};
use hubpulse_store::queue::{self, JobRecord};

use crate::error::ApiError;
use crate::state::AppState;

/// A job: status, attempts, progress, last error and result.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "The job id a maintenance call answered with", minimum = 1)),
    responses(
        (status = 200, description = "The job", body = hubpulse_store::queue::JobRecord),
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
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}
