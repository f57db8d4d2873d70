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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fault::{FaultKind, Outcome};
use crate::settings::PipedriveStandInSettings;
use crate::state::lock;

/// Activity types the stand-in's company has (`key_string`s).
const ACTIVITY_TYPES: &[&str] = &["call", "meeting", "task", "deadline", "email", "lunch"];
const MAX_LIMIT: usize = 500;

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
        .route("/api/v2/deals", post(create_deal).get(list_deals))
        .route(
            "/api/v2/activities",
            post(create_activity).get(list_activities),
        )
        .route("/_sim/pipedrive", get(counts))
        .route("/_sim/pipedrive/deals", get(all_deals))
        .route("/_sim/pipedrive/activities", get(all_activities))
        .route(
            "/_sim/pipedrive/faults",
            put(set_faults).delete(clear_faults),
        )
        .route("/_sim/pipedrive/reset", post(reset))
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

fn rate_headers(response: &mut Response, limit: u64, remaining: u64, reset: u64) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

fn dropped() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    response.extensions_mut().insert(Outcome {
        injected: Some(FaultKind::Drop),
        slow: false,
    });
    response
}

/// What the gate decided before the handler's work.
enum Gate {
    Pass { remaining: u64, reset: u64 },
    Answer(Response),
}

impl Pipedrive {
    /// Token, burst window and faults, in that order; counts the request.
    async fn gate(&self, headers: &HeaderMap, query: Option<&str>) -> Gate {
        let token_ok = headers
            .get("x-api-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == self.settings.api_token);
        let legacy = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("api_token=")));
        let (slow, gate) = {
            let mut inner = lock(&self.inner);
            inner.counts.requests += 1;
            if !token_ok || legacy {
                inner.counts.unauthorized += 1;
                return Gate::Answer(envelope_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized access",
                    None,
                ));
            }
            let now_ms = Utc::now().timestamp_millis();
            let slot = now_ms.div_euclid(2000);
            if inner.window.0 != slot {
                inner.window = (slot, 0);
            }
            inner.window.1 += 1;
            inner.counts.max_in_window = inner.counts.max_in_window.max(inner.window.1);
            let limit = self.settings.burst_limit;
            let reset = (((slot + 1) * 2000 - now_ms) as u64).div_ceil(1000).max(1);
            let remaining = limit.saturating_sub(inner.window.1);
            if inner.window.1 > limit {
                inner.counts.burst_429 += 1;
                let mut response =
                    envelope_error(StatusCode::TOO_MANY_REQUESTS, "Request over limit", None);
                rate_headers(&mut response, limit, 0, reset);
                return Gate::Answer(response);
            }
            let Inner {
                faults,
                rng,
                counts,
                ..
            } = &mut *inner;
            let slow = faults.slow_rate > 0.0 && rng.random_bool(faults.slow_rate);
            let gate = if faults.rate_limit_429 > 0 {
                faults.rate_limit_429 -= 1;
                counts.injected_429 += 1;
                let mut response =
                    envelope_error(StatusCode::TOO_MANY_REQUESTS, "Request over limit", None);
                rate_headers(&mut response, limit, 0, faults.reset_secs.max(1));
                Gate::Answer(response)
            } else if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
                counts.dropped += 1;
                Gate::Answer(dropped())
            } else if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
                counts.server_errors += 1;
                let status = [500, 502, 503][rng.random_range(0..3)];
                Gate::Answer(envelope_error(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "Internal server error",
                    None,
                ))
            } else {
                Gate::Pass { remaining, reset }
            };
            (slow.then_some(faults.slow_ms), gate)
        };
        if let Some(ms) = slow {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        gate
    }

    /// Counts the status and adds the rate-limit headers.
    fn finish(&self, mut response: Response, remaining: u64, reset: u64) -> Response {
        rate_headers(&mut response, self.settings.burst_limit, remaining, reset);
        self.count(&response);
        response
    }

    fn count(&self, response: &Response) {
        let mut inner = lock(&self.inner);
        if response.extensions().get::<Outcome>().is_none() {
            *inner
                .counts
                .by_status
                .entry(response.status().as_u16())
                .or_default() += 1;
        }
    }

    /// Whether this accepted create loses its reply.
    fn drop_after_accept(&self) -> bool {
        let mut inner = lock(&self.inner);
        let Inner {
            faults,
            rng,
            counts,
            ..
        } = &mut *inner;
        let drop =
            faults.drop_after_accept_rate > 0.0 && rng.random_bool(faults.drop_after_accept_rate);
        if drop {
            counts.dropped_after_accept += 1;
        }
        drop
    }
}

macro_rules! gate {
    ($pd:expr, $headers:expr, $query:expr) => {
        match $pd.gate(&$headers, $query).await {
            Gate::Pass { remaining, reset } => (remaining, reset),
            Gate::Answer(response) => {
                $pd.count(&response);
                return response;
            }
        }
    };
}

fn bad_request(message: &str) -> Response {
    envelope_error(StatusCode::BAD_REQUEST, message, None)
}

#[derive(Deserialize)]
struct NewDeal {
    title: String,
    #[serde(default)]
    owner_id: Option<i64>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    visible_to: Option<i64>,
}

async fn create_deal(
    State(pd): State<Pd>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (remaining, reset) = gate!(pd, headers, query.as_deref());
    let response = (|| {
        let deal: NewDeal = match serde_json::from_slice(&body) {
            Ok(deal) => deal,
            Err(err) => return bad_request(&format!("Validation failed: {err}")),
        };
        if deal.title.trim().is_empty() {
            return bad_request(
                "Validation failed: title: Parameter 'title' must be a non-empty string",
            );
        }
        let mut inner = lock(&pd.inner);
        if inner.faults.deals_capped {
            return envelope_error(
                StatusCode::FORBIDDEN,
                "Open deals limit reached",
                Some("feature_capping_deals_limit"),
            );
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let value = json!({
            "id": id, "title": deal.title, "owner_id": deal.owner_id.unwrap_or(1),
            "creator_user_id": 1, "value": deal.value.unwrap_or(0.0),
            "currency": deal.currency.unwrap_or_else(|| "EUR".into()),
            "person_id": null, "org_id": null, "pipeline_id": 1, "stage_id": 1,
            "status": "open", "is_deleted": false, "is_archived": false,
            "visible_to": deal.visible_to.unwrap_or(3), "add_time": now, "update_time": now,
            "custom_fields": {}, "label_ids": [],
        });
        inner.deals.push(value.clone());
        inner.counts.deals_created += 1;
        drop(inner);
        if pd.drop_after_accept() {
            return dropped();
        }
        (
            StatusCode::CREATED,
            Json(json!({ "success": true, "data": value, "additional_data": null })),
        )
            .into_response()
    })();
    pd.finish(response, remaining, reset)
}

#[derive(Deserialize)]
struct NewActivity {
    subject: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    deal_id: Option<i64>,
    #[serde(default)]
    owner_id: Option<i64>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    public_description: Option<String>,
}

async fn create_activity(
    State(pd): State<Pd>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (remaining, reset) = gate!(pd, headers, query.as_deref());
    let response = (|| {
        let activity: NewActivity = match serde_json::from_slice(&body) {
            Ok(a) => a,
            Err(err) => return bad_request(&format!("Validation failed: {err}")),
        };
        if activity.subject.trim().is_empty() {
            return bad_request("Validation failed: subject: must be a non-empty string");
        }
        if !ACTIVITY_TYPES.contains(&activity.kind.as_str()) {
            return bad_request("Validation failed: type: must be an existing activity type");
        }
        let mut inner = lock(&pd.inner);
        if let Some(deal) = activity.deal_id
            && !inner.deals.iter().any(|d| d["id"] == deal)
        {
            return bad_request("Validation failed: deal_id: deal not found");
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let value = json!({
            "id": id, "subject": activity.subject, "type": activity.kind,
            "owner_id": activity.owner_id.unwrap_or(1), "creator_user_id": 1,
            "deal_id": activity.deal_id, "lead_id": null, "person_id": null, "org_id": null,
            "project_id": null, "due_date": activity.due_date, "due_time": null, "duration": null,
            "busy": false, "done": activity.done.unwrap_or(false), "note": activity.note,
            "public_description": activity.public_description, "priority": null,
            "location": null, "participants": [], "attendees": [],
            "is_deleted": false, "add_time": now, "update_time": now,
            "marked_as_done_time": null,
        });
        inner.activities.push(value.clone());
        inner.counts.activities_created += 1;
        drop(inner);
        if pd.drop_after_accept() {
            return dropped();
        }
        (
            StatusCode::CREATED,
            Json(json!({ "success": true, "data": value, "additional_data": null })),
        )
            .into_response()
    })();
    pd.finish(response, remaining, reset)
}

#[derive(Deserialize)]
struct ListParams {
    deal_id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// One cursor-paged list: ids ascending, `next_cursor` null at the end.
fn page(items: &[Value], params: &ListParams, deal_filter: bool) -> Response {
    let limit = match params.limit.as_deref() {
        None => 100,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return bad_request("Validation failed: limit: must be an integer from 1 to 500"),
        },
    };
    let deal = match (deal_filter, params.deal_id.as_deref()) {
        (true, Some(raw)) => match raw.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return bad_request("Validation failed: deal_id: must be an integer"),
        },
        _ => None,
    };
    let after = match params.cursor.as_deref() {
        None => 0,
        Some(raw) => match hex::decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("after:").and_then(|n| n.parse::<i64>().ok()))
        {
            Some(n) => n,
            None => return bad_request("Validation failed: cursor: invalid cursor"),
        },
    };
    let matching: Vec<&Value> = items
        .iter()
        .filter(|v| v["id"].as_i64().unwrap_or(0) > after)
        .filter(|v| deal.is_none_or(|d| v["deal_id"] == d))
        .collect();
    let data: Vec<&Value> = matching.iter().take(limit).copied().collect();
    let next_cursor = (matching.len() > limit)
        .then(|| data.last().and_then(|v| v["id"].as_i64()))
        .flatten()
        .map(|id| hex::encode(format!("after:{id}")));
    Json(
        json!({ "success": true, "data": data, "additional_data": { "next_cursor": next_cursor } }),
    )
    .into_response()
}

async fn list_deals(
    State(pd): State<Pd>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(params): Query<ListParams>,
) -> Response {
    let (remaining, reset) = gate!(pd, headers, query.as_deref());
    let response = {
        let inner = lock(&pd.inner);
        page(&inner.deals, &params, false)
    };
    pd.finish(response, remaining, reset)
}

async fn list_activities(
    State(pd): State<Pd>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(params): Query<ListParams>,
) -> Response {
    let (remaining, reset) = gate!(pd, headers, query.as_deref());
    let response = {
        let inner = lock(&pd.inner);
        page(&inner.activities, &params, true)
    };
    pd.finish(response, remaining, reset)
}

async fn counts(State(pd): State<Pd>) -> Json<Value> {
    let inner = lock(&pd.inner);
    Json(json!({
        "deals": inner.deals.len(),
        "activities": inner.activities.len(),
        "burst_limit": pd.settings.burst_limit,
        "counts": inner.counts,
    }))
}

async fn all_deals(State(pd): State<Pd>) -> Json<Value> {
    Json(json!({ "deals": lock(&pd.inner).deals }))
}

async fn all_activities(State(pd): State<Pd>) -> Json<Value> {
    Json(json!({ "activities": lock(&pd.inner).activities }))
}

async fn set_faults(State(pd): State<Pd>, Json(faults): Json<PipedriveFaults>) -> Response {
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

async fn clear_faults(State(pd): State<Pd>) -> StatusCode {
    lock(&pd.inner).faults = PipedriveFaults::default();
    StatusCode::NO_CONTENT
}

/// Everything starts over: data, faults, counters.
async fn reset(State(pd): State<Pd>) -> StatusCode {
    let mut inner = lock(&pd.inner);
    inner.deals.clear();
    inner.activities.clear();
    inner.faults = PipedriveFaults::default();
    inner.counts = PipedriveCounts::default();
    inner.window = (0, 0);
    StatusCode::NO_CONTENT
}
