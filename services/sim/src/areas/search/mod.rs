//! `GET /search/repositories` over the topics of the data set.

mod query;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hubpulse_domain::wire::{RepoPayload, SearchPage};
use serde::Deserialize;
use serde_json::json;

use super::Api;
use crate::links::{Links, Paging};
use crate::reply::{Call, Reply, github_error};
use crate::state::{Resource, SimState};

const MAX_RESULTS: usize = 1000;
const DOCS: &str = "https://docs.github.com/rest/search/search#search-repositories";

pub fn routes(api: Api) -> Api {
    api.route(
        "/search/repositories",
        Resource::Search,
        get(search_repositories),
    )
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    per_page: Option<String>,
    page: Option<String>,
}

async fn search_repositories(
    State(state): State<Arc<SimState>>,
    call: Call,
    Query(params): Query<SearchParams>,
) -> Response {
    let Some(q) = params.q.as_deref().filter(|q| !q.trim().is_empty()) else {
        return validation_failed("q", "missing");
    };
    let parsed = match query::parse(q) {
        Ok(parsed) => parsed,
        Err(reason) => return validation_failed("q", &reason),
    };
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let sort = params.sort.as_deref().unwrap_or("best-match");
    let ascending = params.order.as_deref() == Some("asc");
    if (paging.page - 1).saturating_mul(paging.per_page) >= MAX_RESULTS {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only the first 1000 search results are available",
        );
    }

    let (body, total) = {
        let data = state.data.read().unwrap_or_else(|p| p.into_inner());
        let mut hits: Vec<&RepoPayload> = data
            .topics
            .get(&parsed.topic)
            .map(|members| {
                members
                    .iter()
                    .map(|&i| &data.repos[i])
                    .filter(|r| parsed.created.0.is_none_or(|lo| r.created_at >= lo))
                    .filter(|r| parsed.created.1.is_none_or(|hi| r.created_at <= hi))
                    .filter(|r| parsed.stars.0.is_none_or(|lo| r.stargazers_count >= lo))
                    .filter(|r| parsed.stars.1.is_none_or(|hi| r.stargazers_count <= hi))
                    .collect()
            })
            .unwrap_or_default();
        let key = |r: &RepoPayload| -> i64 {
            match sort {
                "stars" => r.stargazers_count,
                "forks" => r.forks_count,
                "updated" => r.updated_at.timestamp(),
                "help-wanted-issues" => r.open_issues_count,
                _ => 0,
            }
        };
        // Descending by the key unless asked otherwise; ties by id, always ascending.
        hits.sort_by(|a, b| {
            let by_key = if ascending {
                key(a).cmp(&key(b))
            } else {
                key(b).cmp(&key(a))
            };
            by_key.then(a.id.cmp(&b.id))
        });
        let total = hits.len();
        let reachable = &hits[..total.min(MAX_RESULTS)];
        let body = serde_json::to_vec(&SearchPage {
            total_count: total as u64,
            incomplete_results: state.incomplete(),
            items: paging.window(reachable).to_vec(),
        })
        .unwrap_or_default();
        (body, total)
    };

    let mut query = vec![("q", q.to_owned())];
    query.extend(params.sort.clone().map(|s| ("sort", s)));
    query.extend(params.order.clone().map(|o| ("order", o)));
    let links = Links {
        path: "/search/repositories".into(),
        // Search pages link under the other alias, so only a client that
        // follows the URLs as given gets through.
        other_alias: true,
        query,
        paging,
        last_page: paging.last_page(total.min(MAX_RESULTS)),
    };
    Reply::bytes(body).with_links(links).send(&state, &call)
}

fn validation_failed(field: &str, reason: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "message": "Validation Failed",
            "errors": [{ "resource": "Search", "field": field, "code": "invalid", "message": reason }],
            "documentation_url": DOCS,
            "status": "422",
        })),
    )
        .into_response()
}
