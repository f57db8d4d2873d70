//! github.com's OAuth origin: the device flow (`/login/device/code`,
//! `/login/oauth/access_token`), token revocation
//! (`DELETE /applications/{client_id}/token`), and the `/_sim/oauth/...`
//! controls that play the person at github.com/login/device.
//!
//! Like GitHub, both flow endpoints answer a form unless asked for JSON,
//! and the token endpoint's errors are HTTP 200 bodies. They spend no REST
//! quota and wear no fault layer: the flow's own errors are the faults.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::oauth::{DeviceAction, Poll};
use crate::reply::github_error;
use crate::state::SimState;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ERROR_URI: &str = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow";

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/login/device/code", post(device_code))
        .route("/login/oauth/access_token", post(access_token))
        .route(
            "/applications/{client_id}/token",
            axum::routing::delete(revoke),
        )
        .route("/_sim/oauth", put(set_oauth))
        .route("/_sim/oauth/devices/{user_code}", get(report).post(act))
        .route("/_sim/oauth/tokens/{login}", get(tokens))
        .route("/_sim/oauth/tokens/{login}/revoke", post(revoke_all))
}

/// The pairs of a form body; a repeated key keeps its first value.
fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// JSON when the client's `Accept` asks for it, else GitHub's default form.
fn answer(headers: &HeaderMap, status: StatusCode, fields: &[(&str, Value)]) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if json {
        let body: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        return (status, Json(Value::Object(body))).into_response();
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        match v {
            Value::String(s) => form.append_pair(k, s),
            other => form.append_pair(k, &other.to_string()),
        };
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form.finish(),
    )
        .into_response()
}

fn oauth_error(
    headers: &HeaderMap,
    status: StatusCode,
    error: &str,
    interval: Option<u64>,
) -> Response {
    let description = match error {
        "authorization_pending" => "The authorization request is still pending.",
        "slow_down" => "Too many requests have been made in the same timeframe.",
        "expired_token" => "The device_code has expired.",
        "unsupported_grant_type" => "The grant type is not supported.",
        "incorrect_client_credentials" => {
            "The client_id and/or client_secret passed are incorrect."
        }
        "incorrect_device_code" => "The device_code provided is not valid.",
        "access_denied" => "The authorization request was denied.",
        "device_flow_disabled" => "Device Flow must be explicitly enabled for this App",
        _ => "Bad request.",
    };
    let mut fields = vec![
        ("error", json!(error)),
        ("error_description", json!(description)),
        ("error_uri", json!(ERROR_URI)),
    ];
    if let Some(interval) = interval {
        fields.push(("interval", json!(interval)));
    }
    answer(headers, status, &fields)
}

async fn device_code(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = form(&body);
    if field(&pairs, "client_id").is_none() {
        return oauth_error(
            &headers,
            StatusCode::OK,
            "incorrect_client_credentials",
            None,
        );
    }
    // GitHub refuses the code request itself when the app has the flow off.
    if state.oauth.disabled() {
        return oauth_error(
            &headers,
            StatusCode::BAD_REQUEST,
            "device_flow_disabled",
            None,
        );
    }
    let settings = &state.settings.oauth;
    let (device_code, user_code) = state.oauth.start(settings);
    answer(
        &headers,
        StatusCode::OK,
        &[
            ("device_code", json!(device_code)),
            ("user_code", json!(user_code)),
            (
                "verification_uri",
                json!(format!("{}/login/device", state.public_url)),
            ),
            ("expires_in", json!(settings.expires_in_secs)),
            ("interval", json!(settings.interval_secs)),
        ],
    )
}

async fn access_token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = form(&body);
    let settings = &state.settings.oauth;
    if field(&pairs, "client_id").is_none() {
        return oauth_error(
            &headers,
            StatusCode::OK,
            "incorrect_client_credentials",
            None,
        );
    }
    let issued = match field(&pairs, "grant_type") {
        Some(DEVICE_GRANT) => {
            let Some(device_code) = field(&pairs, "device_code") else {
                return oauth_error(&headers, StatusCode::OK, "incorrect_device_code", None);
            };
            match state.oauth.poll(device_code, settings) {
                Poll::Error { error, interval } => {
                    return oauth_error(&headers, StatusCode::OK, &error, interval);
                }
                Poll::Token(issued) => issued,
            }
        }
        Some("refresh_token") => {
            match field(&pairs, "refresh_token").and_then(|r| state.oauth.refresh(r, settings)) {
                Some(issued) => issued,
                None => return oauth_error(&headers, StatusCode::OK, "bad_refresh_token", None),
            }
        }
        _ => return oauth_error(&headers, StatusCode::OK, "unsupported_grant_type", None),
    };
    let mut fields = vec![
        ("access_token", json!(issued.access_token)),
        ("token_type", json!("bearer")),
        (
            "scope",
            json!(if issued.refresh_token.is_some() {
                ""
            } else {
                "repo"
            }),
        ),
    ];
    if let (Some(refresh), Some(expires_in)) = (issued.refresh_token, issued.expires_in) {
        fields.push(("expires_in", json!(expires_in)));
        fields.push(("refresh_token", json!(refresh)));
        fields.push(("refresh_token_expires_in", json!(15_811_200)));
    }
    answer(&headers, StatusCode::OK, &fields)
}

#[derive(Deserialize)]
struct RevokeBody {
    access_token: String,
}

/// Needs HTTP Basic `client_id:client_secret`; 204, or 404 for a token
/// that is unknown or already revoked.
async fn revoke(
    State(state): State<Arc<SimState>>,
    Path(_client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic ") && v.len() > 6);
    if !basic {
        return github_error(StatusCode::UNAUTHORIZED, "Requires authentication");
    }
    let Ok(body) = serde_json::from_slice::<RevokeBody>(&body) else {
        return github_error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid request.");
    };
    if state.oauth.revoke(&body.access_token) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        github_error(StatusCode::NOT_FOUND, "Not Found")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthControl {
    /// The app has the device flow off: code requests answer 400, polls
    /// `device_flow_disabled`.
    disabled: bool,
}

async fn set_oauth(
    State(state): State<Arc<SimState>>,
    Json(control): Json<OAuthControl>,
) -> Response {
    state.oauth.set_disabled(control.disabled);
    StatusCode::NO_CONTENT.into_response()
}

async fn report(State(state): State<Arc<SimState>>, Path(user_code): Path<String>) -> Response {
    match state.oauth.report(&user_code) {
        Some(report) => Json(report).into_response(),
        None => github_error(StatusCode::NOT_FOUND, "no such user code"),
    }
}

async fn act(
    State(state): State<Arc<SimState>>,
    Path(user_code): Path<String>,
    Json(action): Json<DeviceAction>,
) -> Response {
    if let DeviceAction::Approve { login } = &action {
        let known = state
            .data
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .account_by_login(login)
            .is_some();
        if !known {
            return github_error(StatusCode::NOT_FOUND, "no such account");
        }
    }
    match state.oauth.act(&user_code, &action) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(reason) => github_error(StatusCode::NOT_FOUND, &reason),
    }
}

async fn tokens(State(state): State<Arc<SimState>>, Path(login): Path<String>) -> Response {
    Json(state.oauth.tokens_of(&login)).into_response()
}

/// The user revokes the app on github.com: every token they gave it.
async fn revoke_all(State(state): State<Arc<SimState>>, Path(login): Path<String>) -> Response {
    Json(json!({ "revoked": state.oauth.revoke_all(&login) })).into_response()
}
