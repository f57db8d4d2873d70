//! What cron calls: `/bootstrap_db` and `/update_cache`. Both answer at once
//! with the ids of the jobs that do the work; a job that is already queued or
//! running for a topic is answered with its id, never queued twice.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hubpulse_domain::Topic;
use hubpulse_jobs::kinds::CrawlTopic;
use hubpulse_jobs::{Job, enqueue};
use hubpulse_store::queue::Enqueued;
use hubpulse_store::topics;
use serde::Serialize;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedJobs {
    /// One per tracked topic, in topic order.
    jobs: Vec<QueuedJob>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedJob {
    /// Follow it at `GET /v1/tasks/{id}`.
    id: i64,
    #[schema(example = "crawl_topic")]
    kind: &'static str,
    #[schema(value_type = String, example = "kubernetes")]
    topic: Topic,
    /// False when a job for the topic was already queued or running: its id
    /// is the one answered.
    new: bool,
}

/// Applies pending migrations and queues a full crawl of every tracked topic.
/// Also answers GET (`bootstrap_db_get`): cron and old clients call it that way.
#[utoipa::path(post, path = "/bootstrap_db", tag = "maintenance", operation_id = "bootstrap_db",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Crawls queued (or already queued)", body = QueuedJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn bootstrap_db(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedJobs>), ApiError> {
    state.store().migrate().await?;
    crawl_every_tracked_topic(&state).await
}

/// `POST /bootstrap_db`, as a GET.
#[utoipa::path(get, path = "/bootstrap_db", tag = "maintenance", operation_id = "bootstrap_db_get",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Crawls queued (or already queued)", body = QueuedJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn bootstrap_db_get(
    admin: Admin,
    state: State<AppState>,
) -> Result<(StatusCode, Json<QueuedJobs>), ApiError> {
    bootstrap_db(admin, state).await
}

/// Queues a refresh of every tracked topic: each unchanged search page costs
/// a free 304, and the views are rebuilt when the crawl ends.
#[utoipa::path(post, path = "/update_cache", tag = "maintenance", operation_id = "update_cache",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Refreshes queued (or already queued)", body = QueuedJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn update_cache(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedJobs>), ApiError> {
    crawl_every_tracked_topic(&state).await
}

/// `POST /update_cache`, as a GET.
#[utoipa::path(get, path = "/update_cache", tag = "maintenance", operation_id = "update_cache_get",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Refreshes queued (or already queued)", body = QueuedJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn update_cache_get(
    admin: Admin,
    state: State<AppState>,
) -> Result<(StatusCode, Json<QueuedJobs>), ApiError> {
    update_cache(admin, state).await
}

/// A refresh is a full crawl: the ETag memory is what makes it cheap, so the
/// two calls share one job kind and one dedup key per topic.
async fn crawl_every_tracked_topic(
    state: &AppState,
) -> Result<(StatusCode, Json<QueuedJobs>), ApiError> {
    let conn = state.store().conn().await?;
    let topics = topics::tracked(&conn).await?;
    let mut jobs = Vec::with_capacity(topics.len());
    for tracked in topics {
        let job = CrawlTopic {
            topic: tracked.name,
        };
        let enqueued = enqueue(&conn, &job).await?;
        jobs.push(QueuedJob {
            id: enqueued.id(),
            kind: CrawlTopic::KIND,
            topic: job.topic,
            new: matches!(enqueued, Enqueued::New(_)),
        });
    }
    Ok((StatusCode::ACCEPTED, Json(QueuedJobs { jobs })))
}
