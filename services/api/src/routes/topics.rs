use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hubpulse_domain::Topic;
use hubpulse_store::topics;
use serde::{Deserialize, Serialize};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TopicList {
    topics: Vec<TrackedTopic>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackedTopic {
    #[schema(value_type = String)]
    name: Topic,
    repositories: i64,
    created_at: DateTime<Utc>,
}

impl From<topics::TrackedTopic> for TrackedTopic {
    fn from(topic: topics::TrackedTopic) -> Self {
        Self {
            name: topic.name,
            repositories: topic.repositories,
            created_at: topic.created_at,
        }
    }
}

/// Tracked topics, with how many repositories each holds.
#[utoipa::path(get, path = "/v1/topics", tag = "topics",
    responses(
        (status = 200, description = "Tracked topics", body = TopicList),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<TopicList>, ApiError> {
    Ok(Json(TopicList {
        topics: topics::tracked(&state.store().read_conn().await?)
            .await?
            .into_iter()
            .map(TrackedTopic::from)
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    /// Lowercase letters, digits and hyphens, at most 50 characters.
    #[schema(example = "kubernetes", pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TopicChange {
    #[schema(value_type = String)]
    name: Topic,
    tracked: bool,
    /// False when the call changed nothing (already tracked or untracked).
    changed: bool,
}

/// Tracks a topic; its views answer `[]` until its first crawl (`/update_cache`).
#[utoipa::path(post, path = "/v1/topics", tag = "topics", request_body = NewTopic,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Now tracked", body = TopicChange),
        (status = 200, description = "Was tracked already", body = TopicChange),
        (status = 400, description = "Not a topic name, or not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn track(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewTopic>,
) -> Result<(StatusCode, Json<TopicChange>), ApiError> {
    let topic = Topic::parse(&body.name)?;
    let changed = topics::track(&state.store().conn().await?, &topic).await?;
    state.views().forget_tracked().await;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(TopicChange {
            name: topic,
            tracked: true,
            changed,
        }),
    ))
}

/// Stops tracking a topic and drops its cached views; crawled rows stay.
#[utoipa::path(delete, path = "/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "A GitHub topic", pattern = "^[a-z0-9][a-z0-9-]{0,49}$")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "No longer tracked", body = TopicChange),
        (status = 400, description = "Not a topic name", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "The topic was not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn untrack(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<TopicChange>, ApiError> {
    let topic = Topic::parse(&name)?;
    if !topics::untrack(&state.store().conn().await?, &topic).await? {
        return Err(ApiError::NotFound(format!("topic {topic} is not tracked")));
    }
    if let Err(err) = state.cache().delete_views(&topic).await {
        tracing::warn!(error = %err, "could not drop the views of an untracked topic; they expire from memory only");
    }
    state.views().forget(&topic).await;
    Ok(Json(TopicChange {
        name: topic,
        tracked: false,
        changed: true,
    }))
}
