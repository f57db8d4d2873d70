use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

/// This document: OpenAPI 3.1, generated from the handlers' annotations.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    // Serialized once at start-up (app::Stack), kept in the state.
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi(),
    )
        .into_response()
}

/// A page that renders /openapi.json in the browser; self-contained, so it works offline.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML documentation", content_type = "text/html", body = String)))]
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
