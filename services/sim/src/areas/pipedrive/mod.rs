//! A Pipedrive API v2 stand-in, served under `/api/v2`: deals and
//! activities (create, cursor-paged lists, `deal_id` filter), the
//! `x-api-token` check (the v1 `api_token` query parameter and Bearer are
//! refused, as v2 does), the envelope `{success, data, additional_data}` /
//! `{success:false, error, error_info, data}`, a burst limit per token and
//! 2-second window (429 with `x-ratelimit-reset` in seconds from now), and
//! faults on demand: counted 429s, 403 `feature_capping_*`, 5xx, slow
//! replies, dropped connections, and "accepted, then the connection
//! dropped before the reply" (the row is kept, the client sees no answer).
//! It shares nothing with the GitHub areas: no GitHub quota, no GitHub
//! faults, its own counters at `/_sim/pipedrive`.
//!
//! `gate` checks the token, the burst window and the faults before every
//! v2 call; `api` holds the v2 handlers; `admin` the `/_sim/pipedrive`
//! routes that count, show, fault and reset what the stand-in holds.

mod admin;
mod api;
mod gate;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::settings::PipedriveStandInSettings;

/// Faults on demand: `PUT /_sim/pipedrive/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipedriveFaults {
    /// The next N requests: 429 with `x-ratelimit-reset: reset_secs`.
    pub rate_limit_429: u32,
    pub reset_secs: u64,
    /// Share answered 500, 502 or 503 without doing anything.
    pub error_rate: f64,
    /// Share of requests whose connection closes before anything is done.
    pub drop_rate: f64,
    /// Share of creates that are stored, and then the connection closes
    /// before the reply: the client cannot tell it worked.
    pub drop_after_accept_rate: f64,
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Deal creation answers 403 `feature_capping_deals_limit`.
    pub deals_capped: bool,
}

/// What the stand-in counted, `GET /_sim/pipedrive`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipedriveCounts {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub deals_created: u64,
    pub activities_created: u64,
    /// Creates stored whose reply was then dropped.
    pub dropped_after_accept: u64,
    pub dropped: u64,
    pub injected_429: u64,
    /// 429s because the caller went over the burst limit.
    pub burst_429: u64,
    pub server_errors: u64,
    pub unauthorized: u64,
    /// The most requests one token made in one 2-second window.
    pub max_in_window: u64,
}

struct Inner {
    deals: Vec<Value>,
    activities: Vec<Value>,
    next_id: i64,
    faults: PipedriveFaults,
    rng: StdRng,
    counts: PipedriveCounts,
    /// The current 2-second window and the requests made in it.
    window: (i64, u64),
}

pub struct Pipedrive {
    settings: PipedriveStandInSettings,
    inner: Mutex<Inner>,
}

type Pd = Arc<Pipedrive>;

pub fn router<S: Clone + Send + Sync + 'static>(
    settings: PipedriveStandInSettings,
    seed: u64,
) -> Router<S> {
    let pd = Arc::new(Pipedrive {
        inner: Mutex::new(Inner {
            deals: Vec::new(),
            activities: Vec::new(),
            next_id: 1,
            faults: PipedriveFaults::default(),
            rng: StdRng::seed_from_u64(seed.wrapping_add(99)),
            counts: PipedriveCounts::default(),
            window: (0, 0),
        }),
        settings,
    });
    Router::new()
        .route("/api/v2/deals", post(api::create_deal).get(api::list_deals))
        .route(
            "/api/v2/activities",
            post(api::create_activity).get(api::list_activities),
        )
        .route("/_sim/pipedrive", get(admin::counts))
        .route("/_sim/pipedrive/deals", get(admin::all_deals))
        .route("/_sim/pipedrive/activities", get(admin::all_activities))
        .route(
            "/_sim/pipedrive/faults",
            put(admin::set_faults).delete(admin::clear_faults),
        )
        .route("/_sim/pipedrive/reset", post(admin::reset))
        .with_state(pd)
}
fn envelope_error(status: StatusCode, error: &str, code: Option<&str>) -> Response {
    let mut body = json!({
        "success": false,
        "error": error,
        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
        "data": null,
        "additional_data": null,
    });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    (status, Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, message, None)
}
