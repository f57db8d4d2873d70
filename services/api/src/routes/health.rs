use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hubpulse_store::{orgs, queue};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Readiness checks that take longer than this count as down: a probe must not hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
const QUEUE_DEPTH_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    replica: String,
}

/// The process is alive and serving HTTP; says nothing of its dependencies.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        replica: state.replica().to_owned(),
    })
}

/// Each dependency: `ok`, or what is wrong with it (never the database's or
/// Redis's own words: those go to the log).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Checks {
    postgres: String,
    migrations: String,
    redis: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    status: &'static str,
    /// Only for a caller on this host or with the admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotReady {
    error: crate::error::ErrorDetail,
    /// Only for a caller on this host or with the admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
}

/// Postgres reachable, migrations applied, Redis reachable: then 200, else
/// 503. The public learns only up or down; a caller on this host (not
/// relayed by the proxy) or with the admin token also learns which check
/// failed.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A dependency is down", body = NotReady),
    ))]
pub async fn ready(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: axum::http::HeaderMap,
) -> Response {
    let detailed = crate::auth::is_local_operator(&extensions, &headers)
        || crate::auth::presents_admin_token(&headers, &state);
    let (db, redis) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store().readiness()),
        tokio::time::timeout(CHECK_TIMEOUT, state.cache().ping()),
    );
    let mut down = Vec::new();
    let (postgres, migrations) = match db {
        Ok(Ok(())) => ("ok".to_owned(), "ok".to_owned()),
        Ok(Err(hubpulse_store::StoreError::MigrationsPending(detail))) => {
            down.push("migrations");
            ("ok".to_owned(), format!("pending: {detail}"))
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: postgres is down");
            down.push("postgres");
            ("down".to_owned(), "unknown".to_owned())
        }
        Err(_) => {
            down.push("postgres");
            ("down: timed out".to_owned(), "unknown".to_owned())
        }
    };
    let redis = match redis {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: redis is down");
            down.push("redis");
            "down".to_owned()
        }
        Err(_) => {
            down.push("redis");
            "down: timed out".to_owned()
        }
    };
    let checks = detailed.then_some(Checks {
        postgres,
        migrations,
        redis,
    });
    if down.is_empty() {
        return Json(Ready {
            status: "ready",
            checks,
        })
        .into_response();
    }
    let message = if detailed {
        format!("not ready: {} down", down.join(", "))
    } else {
        "not ready".to_owned()
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(NotReady {
            error: crate::error::ErrorDetail {
                code: "not_ready".into(),
                message,
            },
            checks,
        }),
    )
        .into_response()
}

/// Prometheus text exposition: requests by route template and status, latency histograms.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // A scrape must answer while Postgres is down: the depth and the
    // statistics states are then left out.
    let counts = async {
        let conn = state.store().conn().await?;
        let depth = queue::queue_depth(&conn).await?;
        let stats = orgs::state_counts(&conn).await?;
        let outbox = hubpulse_store::gist_outbox::stats(&conn, None).await?;
        Ok::<_, hubpulse_store::StoreError>((depth, stats, outbox))
    };
    // Apart, so that a count over a large graph running late costs only
    // its own gauges (left at their last value), never the queue depth.
    let graph = &state.settings().graph;
    let frontier = async {
        let conn = state.store().conn().await?;
        hubpulse_store::graph_stats::frontier_counts(&conn, graph.staleness(), graph.max_depth())
            .await
    };
    let (counted, frontier) = tokio::join!(
        tokio::time::timeout(QUEUE_DEPTH_TIMEOUT, counts),
        tokio::time::timeout(QUEUE_DEPTH_TIMEOUT, frontier),
    );
    match frontier {
        Ok(Ok(f)) => state.metrics().graph.set_frontier(f.never_synced, f.stale),
        Ok(Err(err)) => tracing::debug!(error = %err, "frontier size not available"),
        Err(_) => tracing::debug!("frontier size timed out"),
    }
    let (depth, stats, outbox) = match counted {
        Ok(Ok(counts)) => counts,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "queue depth not available");
            Default::default()
        }
        Err(_) => {
            tracing::debug!("queue depth timed out");
            Default::default()
        }
    };
    state.metrics().set_queue_depth(&depth);
    state.metrics().set_repository_stats(&stats);
    let gists = &state.metrics().gists;
    gists.outbox_depth.set(outbox.depth);
    gists.outbox_parked.set(outbox.parked);
    gists.outbox_oldest_age.set(outbox.oldest_age_secs);
    let body = state
        .metrics()
        .render()
        .map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
