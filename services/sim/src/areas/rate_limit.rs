//! `GET /rate_limit`: the caller's windows, at no cost.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hubpulse_domain::wire::RateLimitResource;
use serde_json::json;

use super::Api;
use crate::reply::{Call, rate_headers};
use crate::state::{Resource, SimState, Window};

pub fn routes(api: Api) -> Api {
    api.route("/rate_limit", Resource::Core, get(rate_limit))
}

async fn rate_limit(State(state): State<Arc<SimState>>, call: Call) -> Response {
    let show = |w: Window| RateLimitResource {
        limit: w.limit,
        remaining: w.remaining(),
        used: w.used,
        reset: w.reset,
    };
    let core = state.window(&call.caller, Resource::Core);
    let search = show(state.window(&call.caller, Resource::Search));
    let mut out = HeaderMap::new();
    rate_headers(&mut out, core, Resource::Core);
    (
        out,
        Json(json!({ "resources": { "core": show(core), "search": search }, "rate": show(core) })),
    )
        .into_response()
}
