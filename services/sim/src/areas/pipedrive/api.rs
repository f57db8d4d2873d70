//! The v2 API: create and list deals and activities, each behind the gate.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::gate::{Gate, dropped, gate};
use super::{Pd, bad_request, envelope_error};
use crate::state::lock;

/// Activity types the stand-in's company has (`key_string`s).
const ACTIVITY_TYPES: &[&str] = &["call", "meeting", "task", "deadline", "email", "lunch"];
const MAX_LIMIT: usize = 500;
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

pub(super) async fn create_deal(
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

pub(super) async fn create_activity(
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
pub(super) struct ListParams {
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

pub(super) async fn list_deals(
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

pub(super) async fn list_activities(
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
