//! `/_sim/pipedrive`: what the stand-in holds and counted, its faults on
//! demand, and a reset. Not behind the gate: no token, no burst limit.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Pd, PipedriveCounts, PipedriveFaults, envelope_error};
use crate::state::lock;

pub(super) async fn counts(State(pd): State<Pd>) -> Json<Value> {
    let inner = lock(&pd.inner);
    Json(json!({
        "deals": inner.deals.len(),
        "activities": inner.activities.len(),
        "burst_limit": pd.settings.burst_limit,
        "counts": inner.counts,
    }))
}

pub(super) async fn all_deals(State(pd): State<Pd>) -> Json<Value> {
    Json(json!({ "deals": lock(&pd.inner).deals }))
}

pub(super) async fn all_activities(State(pd): State<Pd>) -> Json<Value> {
    Json(json!({ "activities": lock(&pd.inner).activities }))
}

pub(super) async fn set_faults(
    State(pd): State<Pd>,
    Json(faults): Json<PipedriveFaults>,
) -> Response {
    for rate in [
        faults.error_rate,
        faults.drop_rate,
        faults.drop_after_accept_rate,
        faults.slow_rate,
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return envelope_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rates must be between 0 and 1",
                None,
            );
        }
    }
    lock(&pd.inner).faults = faults.clone();
    Json(faults).into_response()
}

pub(super) async fn clear_faults(State(pd): State<Pd>) -> StatusCode {
    lock(&pd.inner).faults = PipedriveFaults::default();
    StatusCode::NO_CONTENT
}

/// Everything starts over: data, faults, counters.
pub(super) async fn reset(State(pd): State<Pd>) -> StatusCode {
    let mut inner = lock(&pd.inner);
    inner.deals.clear();
    inner.activities.clear();
    inner.faults = PipedriveFaults::default();
    inner.counts = PipedriveCounts::default();
    inner.window = (0, 0);
    StatusCode::NO_CONTENT
}
