//! The seed's (the old Django scraper's) paths, kept as aliases so its
//! clients keep working: `/github/developers/`, `/github/repositories/`,
//! `/github/rate_limit/` and `/github/tasks/` answer exactly as the `/v1`
//! routes they stand for (the same handlers; `next` links keep the path
//! they were asked on).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use serde_json::Value;

use super::developers::{self, Developer, DeveloperParams};
use super::graph_repos::{self, Repository, RepositoryParams};
use super::keyset::Envelope;
use super::rate_limit::{self, RateLimitState};
use super::task_queue::{self, QueuedTask, TaskBody, TaskList, TaskParams};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

/// The seed's `GET /github/developers/`: the same as `GET /v1/developers`.
#[utoipa::path(get, path = "/github/developers/", tag = "graph", operation_id = "seed_developers", params(DeveloperParams),
    responses(
        (status = 200, description = "A page of developers", body = Envelope<Developer>),
        (status = 400, description = "A bad parameter or cursor", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn developers(
    state: State<AppState>,
    uri: Uri,
    params: Query<DeveloperParams>,
) -> Result<Json<Envelope<Developer>>, ApiError> {
    developers::list(state, uri, params).await
}

/// The seed's `GET /github/repositories/`: the same as `GET /v1/repositories`.
#[utoipa::path(get, path = "/github/repositories/", tag = "graph", operation_id = "seed_repositories", params(RepositoryParams),
    responses(
        (status = 200, description = "A page of repositories", body = Envelope<Repository>),
        (status = 400, description = "A bad parameter or cursor", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn repositories(
    state: State<AppState>,
    uri: Uri,
    params: Query<RepositoryParams>,
) -> Result<Json<Envelope<Repository>>, ApiError> {
    graph_repos::list(state, uri, params).await
}

/// The seed's `GET /github/rate_limit/`: the same as `GET /v1/rate_limit`.
#[utoipa::path(get, path = "/github/rate_limit/", tag = "operations", operation_id = "seed_rate_limit",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Buckets, pauses and the forecast", body = RateLimitState),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Redis or Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn rate_limit(
    admin: Admin,
    state: State<AppState>,
) -> Result<Json<RateLimitState>, ApiError> {
    rate_limit::show(admin, state).await
}

/// The seed's `GET /github/tasks/`: the same as `GET /v1/tasks`.
#[utoipa::path(get, path = "/github/tasks/", tag = "tasks", operation_id = "seed_tasks", params(TaskParams),
    responses(
        (status = 200, description = "Kinds and a page of recent jobs", body = TaskList),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn tasks(
    state: State<AppState>,
    uri: Uri,
    params: Query<TaskParams>,
) -> Result<Json<TaskList>, ApiError> {
    task_queue::list(state, uri, params).await
}

/// The seed's `POST /github/tasks/`: the same as `POST /v1/tasks`.
#[utoipa::path(post, path = "/github/tasks/", tag = "tasks", operation_id = "seed_create_task", request_body = TaskBody,
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Queued, or the live job with the same key", body = QueuedTask),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 404, description = "sync_developer or sync_repository naming no one and nothing", body = crate::error::ErrorBody),
        (status = 422, description = "An unknown kind, or arguments of the wrong shape", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn create_task(
    admin: Admin,
    state: State<AppState>,
    body: Json<Value>,
) -> Result<(StatusCode, Json<QueuedTask>), ApiError> {
    task_queue::create(admin, state, body).await
}
