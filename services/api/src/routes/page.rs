//! The page at `/`: sign in with GitHub, a person's repositories, and what
//! HubPulse is doing. Its HTML, script and styles are compiled into the
//! binary (no CDN: it works offline), and its script talks only to this API.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use hubpulse_store::{job_feed, topics};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Scripts only from this origin, no inline code, no framing by others.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page.
#[utoipa::path(get, path = "/", tag = "operations",
    responses((status = 200, description = "The web page", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(include_str!("page/index.html")),
    )
        .into_response()
}

/// The page's script.
#[utoipa::path(get, path = "/assets/page.js", tag = "operations",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String)))]
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("page/page.js"),
    )
        .into_response()
}

/// The page's styles.
#[utoipa::path(get, path = "/assets/page.css", tag = "operations",
    responses((status = 200, description = "CSS", content_type = "text/css", body = String)))]
pub async fn styles() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("page/page.css"),
    )
        .into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    topics: Vec<TopicSummary>,
    jobs: Vec<JobSummary>,
    /// The service token's last-seen GitHub rate limits, per resource.
    rate: Vec<RateSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TopicSummary {
    name: String,
    repositories: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JobSummary {
    id: i64,
    kind: String,
    status: String,
    progress_done: Option<i64>,
    progress_total: Option<i64>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RateSummary {
    resource: String,
    limit: u64,
    remaining: u64,
    reset: DateTime<Utc>,
}

/// What HubPulse is doing: tracked topics, the latest jobs, the rate budget.
#[utoipa::path(get, path = "/v1/overview", tag = "operations",
    responses(
        (status = 200, description = "The overview", body = Overview),
        (status = 503, description = "Postgres unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    let conn = state.store().conn().await?;
    let topics = topics::tracked(&conn)
        .await?
        .into_iter()
        .map(|t| TopicSummary {
            name: t.name.as_str().to_owned(),
            repositories: t.repositories,
        })
        .collect();
    let jobs = job_feed::recent(&conn, 10)
        .await?
        .into_iter()
        .map(|j| JobSummary {
            id: j.id,
            kind: j.kind,
            status: j.status,
            progress_done: j.progress_done,
            progress_total: j.progress_total,
            updated_at: j.updated_at,
        })
        .collect();
    let mut rate: Vec<RateSummary> = state
        .github()
        .rate_limits()
        .into_iter()
        .map(|(resource, seen)| RateSummary {
            resource: resource.as_str().to_owned(),
            limit: seen.limit,
            remaining: seen.remaining,
            reset: seen.reset,
        })
        .collect();
    rate.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(Json(Overview { topics, jobs, rate }))
}
