//! The rate budget's pauses, for operators: a `retry-after` or secondary
//! limit holds every replica's calls for a credential and resource; these
//! show which, until when, and lift them when an operator knows better.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RateLimitState {
    /// Buckets a pause holds now; empty when none does.
    pauses: Vec<PauseView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PauseView {
    /// The credential's token id (a short hash of the token, or `anonymous`).
    #[schema(example = "3f2a9c0d81be")]
    credential: String,
    #[schema(example = "search")]
    resource: String,
    until: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PausesCleared {
    /// How many pauses were lifted.
    cleared: u64,
}

fn unavailable(err: hubpulse_domain::rate::BudgetError) -> ApiError {
    tracing::warn!(error = %err, "the rate budget could not be asked");
    ApiError::Unavailable("the rate budget is unavailable; try again shortly".into())
}

/// The pauses holding the GitHub rate budget now.
#[utoipa::path(get, path = "/v1/rate_limit", tag = "operations", operation_id = "rate_limit",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Current pauses", body = RateLimitState),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Redis is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn show(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<RateLimitState>, ApiError> {
    let pauses = state.github().pauses().await.map_err(unavailable)?;
    Ok(Json(RateLimitState {
        pauses: pauses
            .into_iter()
            .map(|p| PauseView {
                credential: p.credential,
                resource: p.resource.as_str().to_owned(),
                until: p.until,
            })
            .collect(),
    }))
}

/// Lifts every pause of the GitHub rate budget, for every replica.
#[utoipa::path(delete, path = "/v1/rate_limit/pauses", tag = "operations", operation_id = "clear_rate_limit_pauses",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Pauses lifted", body = PausesCleared),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Redis is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn clear(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<PausesCleared>, ApiError> {
    let cleared = state.github().clear_pauses().await.map_err(unavailable)?;
    tracing::info!(cleared, "rate budget pauses lifted by an admin");
    Ok(Json(PausesCleared { cleared }))
}
