//! GitHub's endpoints, served at `/` and under GitHub Enterprise's `/api/v3`
//! alias, plus the `/_sim` admin routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hubpulse_domain::wire::{RateLimitResource, RepoPayload, SearchPage};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::query;
use crate::settings::Faults;
use crate::state::{Resource, SimState, Window, unix_now};

pub const ALIAS: &str = "/api/v3";
const MAX_RESULTS: usize = 1000;
const DOCS: &str = "https://docs.github.com/rest/search/search#search-repositories";

pub fn router(state: Arc<SimState>) -> Router {
    let api = Router::new()
        .route("/search/repositories", get(search_repositories))
        .route("/rate_limit", get(rate_limit));
    Router::new()
        .merge(api.clone())
        .nest(ALIAS, api)
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/topics/{name}/touch", post(touch))
        .route("/_sim/topics/{name}", get(members).put(resize))
        .route(
            "/_sim/topics/{name}/repositories/{id}",
            axum::routing::delete(leave),
        )
        .with_state(state)
}

/// Who spends the quota: the token (hashed, never kept), or nobody.
pub fn caller(headers: &HeaderMap) -> String {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) if !auth.trim().is_empty() => {
            let digest = Sha256::digest(auth.trim().as_bytes());
            format!("token-{}", &hex::encode(digest)[..12])
        }
        _ => "anonymous".into(),
    }
}

pub fn rate_headers(headers: &mut HeaderMap, window: Window, resource: Resource) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-ratelimit-limit", window.limit.to_string());
    set("x-ratelimit-remaining", window.remaining().to_string());
    set("x-ratelimit-used", window.used.to_string());
    set("x-ratelimit-reset", window.reset.to_string());
    set("x-ratelimit-resource", resource.as_str().to_owned());
}

pub fn github_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message, "documentation_url": DOCS, "status": status.as_str() })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    per_page: Option<String>,
    page: Option<String>,
}

/// GitHub reads a bad number as the default rather than failing.
fn number(raw: Option<&str>, default: usize) -> usize {
    raw.and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Everything but unreserved characters, so `:` `..` and spaces survive a round trip.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

async fn search_repositories(
    State(state): State<Arc<SimState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    let caller = caller(&headers);
    let resource = Resource::Search;
    let Some(q) = params.q.as_deref().filter(|q| !q.trim().is_empty()) else {
        return validation_failed("q", "missing");
    };
    let parsed = match query::parse(q) {
        Ok(parsed) => parsed,
        Err(reason) => return validation_failed("q", &reason),
    };
    let per_page = number(params.per_page.as_deref(), 30).min(100);
    let page = number(params.page.as_deref(), 1);
    let sort = params.sort.as_deref().unwrap_or("best-match");
    let ascending = params.order.as_deref() == Some("asc");
    if page.saturating_sub(1).saturating_mul(per_page) >= MAX_RESULTS {
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
        let start = (page - 1) * per_page;
        let end = (start + per_page).min(total).min(MAX_RESULTS);
        let items: Vec<&RepoPayload> = hits.get(start..end.max(start)).unwrap_or_default().to_vec();
        let body = serde_json::to_vec(&SearchPage {
            total_count: total as u64,
            incomplete_results: state.incomplete(),
            items,
        })
        .unwrap_or_default();
        (body, total)
    };

    let etag = format!("W/\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    let mut out = HeaderMap::new();
    let reachable = total.min(MAX_RESULTS);
    let last_page = reachable.div_ceil(per_page).max(1);
    if let Some(link) = link_header(
        &state.public_url,
        uri.path(),
        q,
        params.sort.as_deref(),
        params.order.as_deref(),
        per_page,
        page,
        last_page,
    ) && let Ok(value) = HeaderValue::from_str(&link)
    {
        out.insert(header::LINK, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60, s-maxage=60"),
    );
    out.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, Cookie, X-GitHub-OTP"),
    );

    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        // A revalidation costs no quota.
        rate_headers(&mut out, state.window(&caller, resource), resource);
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    match state.spend(&caller, resource) {
        Ok(window) => {
            rate_headers(&mut out, window, resource);
            out.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            (StatusCode::OK, out, body).into_response()
        }
        Err(window) => {
            let mut response = github_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "API rate limit exceeded for {caller}. (But here's the good news: Authenticated requests get a higher rate limit.)"
                ),
            );
            rate_headers(response.headers_mut(), window, resource);
            response
        }
    }
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

/// GitHub's `Link`: absolute URLs, no next/last on the last page, no
/// prev/first on the first. The rel order changes from page to page and the
/// path is the other alias than the request's, so only a client that follows
/// the URLs as given gets through.
#[allow(clippy::too_many_arguments)]
pub fn link_header(
    base: &str,
    request_path: &str,
    q: &str,
    sort: Option<&str>,
    order: Option<&str>,
    per_page: usize,
    page: usize,
    last_page: usize,
) -> Option<String> {
    let path = match request_path.strip_prefix(ALIAS) {
        Some(plain) => plain.to_owned(),
        None => format!("{ALIAS}{request_path}"),
    };
    let url = |page: usize| {
        let mut url = format!("{base}{path}?q={}", utf8_percent_encode(q, QUERY_VALUE));
        if let Some(sort) = sort {
            url.push_str(&format!("&sort={}", utf8_percent_encode(sort, QUERY_VALUE)));
        }
        if let Some(order) = order {
            url.push_str(&format!(
                "&order={}",
                utf8_percent_encode(order, QUERY_VALUE)
            ));
        }
        url.push_str(&format!("&per_page={per_page}&page={page}"));
        url
    };
    let mut rels = Vec::new();
    if page < last_page {
        rels.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        rels.push(format!("<{}>; rel=\"last\"", url(last_page)));
    }
    if page > 1 {
        rels.push(format!(
            "<{}>; rel=\"prev\"",
            url((page - 1).min(last_page))
        ));
        rels.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    if rels.is_empty() {
        return None;
    }
    let turn = page % rels.len();
    rels.rotate_left(turn);
    Some(rels.join(", "))
}

async fn rate_limit(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    let caller = caller(&headers);
    let show = |w: Window| RateLimitResource {
        limit: w.limit,
        remaining: w.remaining(),
        used: w.used,
        reset: w.reset,
    };
    let core = show(state.window(&caller, Resource::Core));
    let search = show(state.window(&caller, Resource::Search));
    let mut out = HeaderMap::new();
    rate_headers(
        &mut out,
        state.window(&caller, Resource::Core),
        Resource::Core,
    );
    (
        out,
        Json(json!({ "resources": { "core": core, "search": search }, "rate": core })),
    )
        .into_response()
}

async fn get_faults(State(state): State<Arc<SimState>>) -> Json<Faults> {
    Json(state.faults())
}

async fn put_faults(State(state): State<Arc<SimState>>, Json(faults): Json<Faults>) -> Response {
    for rate in [
        faults.error_rate,
        faults.slow_rate,
        faults.drop_rate,
        faults.malformed_rate,
        faults.truncated_rate,
        faults.incomplete_rate,
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return github_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rates must be between 0 and 1",
            );
        }
    }
    state.set_faults(faults.clone());
    Json(faults).into_response()
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    let data_stats = {
        let data = state.data.read().unwrap_or_else(|p| p.into_inner());
        data.topics
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect::<HashMap<_, _>>()
    };
    Json(json!({ "stats": state.stats(), "topics": data_stats, "now": unix_now() })).into_response()
}

async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct TouchBody {
    #[serde(default = "default_share")]
    share: f64,
}

fn default_share() -> f64 {
    0.1
}

async fn touch(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    body: Option<Json<TouchBody>>,
) -> Response {
    let share = body.map_or(default_share(), |b| b.share);
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    if !data.topics.contains_key(&name) {
        return github_error(StatusCode::NOT_FOUND, "no such topic in the simulator");
    }
    let changed = data.touch(&name, share, state.settings.seed);
    Json(json!({ "topic": name, "changed": changed })).into_response()
}

#[derive(Deserialize)]
struct ResizeBody {
    size: usize,
}

async fn resize(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    Json(body): Json<ResizeBody>,
) -> Response {
    if hubpulse_domain::Topic::parse(&name).is_err() || body.size > 1_000_000 {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a valid topic name and a size up to 1,000,000",
        );
    }
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    let have = data.topics.get(&name).map_or(0, Vec::len);
    if body.size < have {
        // The last-added members leave, as repositories dropping a topic on
        // GitHub do; each one's own `topics` list forgets it too.
        let left = data
            .topics
            .get_mut(&name)
            .map(|members| members.split_off(body.size))
            .unwrap_or_default();
        for i in left {
            data.repos[i].topics.retain(|t| *t != name);
        }
        data.generation += 1;
    } else {
        data.grow(&name, body.size, state.settings.seed);
    }
    let size = data.topics.get(&name).map_or(0, Vec::len);
    Json(json!({ "topic": name, "size": size })).into_response()
}

/// One repository leaves a topic, wherever it sits in the topic's pages (a
/// shrink only drops the last-added ones).
async fn leave(
    State(state): State<Arc<SimState>>,
    Path((name, id)): Path<(String, i64)>,
) -> Response {
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    let crate::data::Dataset { repos, topics, .. } = &mut *data;
    let Some(members) = topics.get_mut(&name) else {
        return github_error(StatusCode::NOT_FOUND, "no such topic in the simulator");
    };
    let Some(at) = members.iter().position(|&i| repos[i].id == id) else {
        return github_error(StatusCode::NOT_FOUND, "no such repository in the topic");
    };
    let i = members.remove(at);
    repos[i].topics.retain(|t| *t != name);
    let size = members.len();
    data.generation += 1;
    Json(json!({ "topic": name, "size": size })).into_response()
}

/// Every repository a topic holds, in the order they joined it: what a
/// test compares a complete crawl against.
async fn members(State(state): State<Arc<SimState>>, Path(name): Path<String>) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let Some(members) = data.topics.get(&name) else {
        return github_error(StatusCode::NOT_FOUND, "no such topic in the simulator");
    };
    let repositories: Vec<&RepoPayload> = members.iter().map(|&i| &data.repos[i]).collect();
    Json(json!({ "topic": name, "size": members.len(), "repositories": repositories }))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rels_follow_the_page() {
        let first = link_header(
            "http://h",
            "/search/repositories",
            "topic:a b",
            None,
            None,
            100,
            1,
            3,
        )
        .unwrap();
        assert!(first.contains("rel=\"next\"") && first.contains("rel=\"last\""));
        assert!(!first.contains("rel=\"prev\""));
        assert!(
            first.contains(
                "http://h/api/v3/search/repositories?q=topic%3Aa%20b&per_page=100&page=2"
            )
        );
        let last = link_header(
            "http://h",
            "/api/v3/search/repositories",
            "topic:a",
            None,
            None,
            100,
            3,
            3,
        )
        .unwrap();
        assert!(!last.contains("rel=\"next\"") && !last.contains("rel=\"last\""));
        assert!(last.contains(
            "<http://h/search/repositories?q=topic%3Aa&per_page=100&page=2>; rel=\"prev\""
        ));
        assert!(
            link_header(
                "http://h",
                "/search/repositories",
                "topic:a",
                None,
                None,
                100,
                1,
                1
            )
            .is_none()
        );
        let middle_a = link_header("http://h", "/x", "q", None, None, 10, 2, 5).unwrap();
        let middle_b = link_header("http://h", "/x", "q", None, None, 10, 3, 5).unwrap();
        let first_rel = |s: &str| {
            s.split(", ")
                .next()
                .unwrap()
                .rsplit("rel=")
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(
            first_rel(&middle_a),
            first_rel(&middle_b),
            "rel order varies"
        );
    }
}
