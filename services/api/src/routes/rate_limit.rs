//! The rate budget, for operators: every credential's buckets as the last
//! replies left them (limit, remaining, reset), the reserve each keeps,
//! the pauses a `retry-after` or secondary limit set (and lifting them when
//! an operator knows better), and when the live jobs should be done at the
//! pace jobs finished lately.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use hubpulse_domain::rate::{BucketState, Resource, later};
use hubpulse_store::graph_stats::{Throughput, throughput};
use serde::Serialize;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RateLimitState {
    /// Every bucket the shared budget holds now, by credential and resource.
    buckets: Vec<BucketView>,
    /// Buckets a pause holds now; empty when none does.
    pauses: Vec<PauseView>,
    forecast: Forecast,
}

/// One credential's bucket of one resource, as the last reply said and the
/// replicas' spending since left it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BucketView {
    /// The credential's token id (a short hash of the token, or `anonymous`).
    #[schema(example = "3f2a9c0d81be")]
    credential: String,
    #[schema(example = "core")]
    resource: String,
    /// Calls per window, as GitHub last said (0 before any reply).
    limit: u64,
    /// Calls left in this window.
    remaining: u64,
    /// When the window ends; null before any reply.
    #[schema(required = true)]
    reset: Option<DateTime<Utc>>,
    /// Calls of each window never spent (`github.reserve_ratio` of `limit`).
    reserve: u64,
    /// Until when a pause holds the bucket; null when none does.
    #[schema(required = true)]
    paused_until: Option<DateTime<Utc>>,
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

/// When the jobs live now would be done at the pace jobs finished lately.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Forecast {
    /// Queued or rescheduled jobs, of every kind.
    queued_jobs: i64,
    running_jobs: i64,
    /// Jobs that finished (succeeded or failed) in the last `window_secs`.
    finished_jobs: i64,
    window_secs: u64,
    /// `finished_jobs` per minute.
    jobs_per_minute: f64,
    /// When no job calling GitHub with the service token can start before
    /// then (its core bucket spent down to the reserve, or paused); null
    /// when it can spend now.
    #[schema(required = true)]
    blocked_until: Option<DateTime<Utc>>,
    /// When the live jobs are expected done; null when there is no pace to
    /// go by or nothing to do (`reason` says which).
    #[schema(required = true)]
    estimated_finish: Option<DateTime<Utc>>,
    #[schema(
        required = true,
        example = "no job finished in the last 900 seconds: no pace to go by"
    )]
    reason: Option<String>,
}

/// How far back the forecast's pace looks: long enough to hold several
/// finished jobs, short enough to follow a change of pace.
const PACE_WINDOW: Duration = Duration::from_secs(900);

#[derive(Serialize, utoipa::ToSchema)]
pub struct PausesCleared {
    /// How many pauses were lifted.
    cleared: u64,
}

fn unavailable(err: hubpulse_domain::rate::BudgetError) -> ApiError {
    tracing::warn!(error = %err, "the rate budget could not be asked");
    ApiError::Unavailable("the rate budget is unavailable; try again shortly".into())
}

/// The GitHub rate budget: every bucket, the pauses, and when the live
/// jobs should be done at the current pace.
#[utoipa::path(get, path = "/v1/rate_limit", tag = "operations", operation_id = "rate_limit",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Buckets, pauses and the forecast", body = RateLimitState),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Redis or Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn show(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<RateLimitState>, ApiError> {
    let github = state.github();
    let policy = state.settings().github.budget_policy();
    let buckets = github.buckets().await.map_err(unavailable)?;
    let pauses = github.pauses().await.map_err(unavailable)?;
    let now = Utc::now();
    // The service token's core bucket is what the crawls and syncs spend.
    let blocked_until = buckets
        .iter()
        .find(|b| b.credential == github.token_id() && b.resource == Resource::Core)
        .and_then(|b| blocked(&b.state, policy.reserve(b.state.limit), now));
    let pace = throughput(&state.store().read_conn().await?, PACE_WINDOW).await?;
    Ok(Json(RateLimitState {
        buckets: buckets
            .into_iter()
            .map(|b| BucketView {
                reserve: policy.reserve(b.state.limit),
                credential: b.credential,
                resource: b.resource.as_str().to_owned(),
                limit: b.state.limit,
                remaining: b.state.remaining,
                reset: b.state.reset,
                paused_until: b.state.paused_until.filter(|until| *until > now),
            })
            .collect(),
        pauses: pauses
            .into_iter()
            .map(|p| PauseView {
                credential: p.credential,
                resource: p.resource.as_str().to_owned(),
                until: p.until,
            })
            .collect(),
        forecast: forecast(pace, blocked_until, now),
    }))
}

/// Until when nothing can be spent from a bucket: its pause, or its reset
/// when what is left is down to the reserve.
fn blocked(bucket: &BucketState, reserve: u64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let paused = bucket.paused_until.filter(|until| *until > now);
    let spent = bucket
        .reset
        .filter(|reset| *reset > now && bucket.remaining <= reserve);
    paused.max(spent)
}

fn forecast(
    pace: Throughput,
    blocked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Forecast {
    let window_secs = PACE_WINDOW.as_secs();
    #[allow(clippy::cast_precision_loss)] // job counts are far below 2^52
    let per_minute = pace.finished as f64 * 60.0 / window_secs as f64;
    let live = pace.waiting + pace.running;
    let (estimated_finish, reason) = if live == 0 {
        (None, Some("nothing is queued or running".to_owned()))
    } else if pace.finished == 0 {
        (
            None,
            Some(format!(
                "no job finished in the last {window_secs} seconds: no pace to go by"
            )),
        )
    } else {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let ms = (live as f64 / per_minute * 60_000.0).ceil() as i64;
        let start = blocked_until.map_or(now, |until| until.max(now));
        (Some(later(start, TimeDelta::milliseconds(ms))), None)
    };
    Forecast {
        queued_jobs: pace.waiting,
        running_jobs: pace.running,
        finished_jobs: pace.finished,
        window_secs,
        jobs_per_minute: per_minute,
        blocked_until,
        estimated_finish,
        reason,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn bucket(remaining: u64, reset: i64, paused: Option<i64>) -> BucketState {
        BucketState {
            limit: 100,
            remaining,
            reset: Some(at(reset)),
            probe_until: None,
            paused_until: paused.map(at),
        }
    }

    #[test]
    fn a_bucket_blocks_until_its_reset_when_down_to_the_reserve_or_until_its_pause() {
        let now = at(0);
        assert_eq!(blocked(&bucket(11, 60, None), 10, now), None);
        assert_eq!(blocked(&bucket(10, 60, None), 10, now), Some(at(60)));
        // A window already over blocks nothing: the next call learns anew.
        assert_eq!(blocked(&bucket(0, -1, None), 10, now), None);
        assert_eq!(blocked(&bucket(50, 60, Some(30)), 10, now), Some(at(30)));
        assert_eq!(blocked(&bucket(0, 60, Some(90)), 10, now), Some(at(90)));
        assert_eq!(blocked(&bucket(0, 60, Some(-5)), 10, now), Some(at(60)));
    }

    #[test]
    fn the_forecast_goes_by_the_pace_and_starts_when_the_budget_allows() {
        let now = at(0);
        let pace = |waiting, running, finished| Throughput {
            waiting,
            running,
            finished,
        };
        let idle = forecast(pace(0, 0, 9), None, now);
        assert_eq!(idle.estimated_finish, None);
        assert_eq!(idle.reason.as_deref(), Some("nothing is queued or running"));
        let stalled = forecast(pace(4, 0, 0), None, now);
        assert_eq!(stalled.estimated_finish, None);
        assert!(stalled.reason.unwrap().contains("no pace"));
        // 30 finished in 15 minutes: 2 a minute; 9 live take 4.5 minutes.
        let going = forecast(pace(8, 1, 30), None, now);
        assert_eq!(going.jobs_per_minute, 2.0);
        assert_eq!(going.estimated_finish, Some(at(270)));
        assert_eq!(going.reason, None);
        // Nothing starts before the budget allows it.
        let held = forecast(pace(8, 1, 30), Some(at(600)), now);
        assert_eq!(held.estimated_finish, Some(at(870)));
        let past = forecast(pace(8, 1, 30), Some(at(-600)), now);
        assert_eq!(past.estimated_finish, Some(at(270)));
    }
}
