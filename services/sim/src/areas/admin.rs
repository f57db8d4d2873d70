//! `/_sim/...`: the simulator's own controls, never faulted and free.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use hubpulse_domain::wire::RepoPayload;
use serde::Deserialize;
use serde_json::json;

use crate::controls::ListControl;
use crate::data::Dataset;
use crate::reply::github_error;
use crate::settings::Faults;
use crate::state::{SimState, StatsChange, unix_now};

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/topics/{name}/touch", post(touch))
        .route("/_sim/topics/{name}", get(members).put(resize))
        .route("/_sim/topics/{name}/repositories/{id}", delete(leave))
        .route(
            "/_sim/lists",
            get(get_lists).put(put_list).delete(clear_lists),
        )
        .route("/_sim/accounts/{login}", get(account))
        .route("/_sim/repositories/{id}/name", put(rename))
        .route("/_sim/accounts/{id}/login", put(rename_account))
        .route("/_sim/repositories/{id}/stats", put(control_stats))
}

/// Steers one repository's contributor statistics: its own run of 202s
/// (`u32::MAX`: endless) and contributors added in the last week.
async fn control_stats(
    State(state): State<Arc<SimState>>,
    Path(id): Path<i64>,
    Json(change): Json<StatsChange>,
) -> Response {
    let known = state
        .data
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .repo_by_id(id)
        .is_some();
    if !known {
        return github_error(StatusCode::NOT_FOUND, "no such repository");
    }
    state.control_stats(id, change);
    StatusCode::NO_CONTENT.into_response()
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

async fn get_lists(State(state): State<Arc<SimState>>) -> Json<Vec<ListControl>> {
    Json(state.controls.all())
}

async fn put_list(
    State(state): State<Arc<SimState>>,
    Json(control): Json<ListControl>,
) -> Response {
    if !control.path.starts_with('/') || control.link_cycle.is_some_and(|c| c.to_page == 0) {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "path starts with / and link_cycle.to_page is at least 1",
        );
    }
    Json(state.controls.set(control)).into_response()
}

async fn clear_lists(State(state): State<Arc<SimState>>) -> StatusCode {
    state.controls.clear();
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
    data.resize(&name, body.size, state.settings.seed);
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
    let Dataset { repos, topics, .. } = &mut *data;
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

/// An account as the simulator holds it: id, login, type, how many
/// followers, following, stars and members, its gists, and its
/// repositories (id, current and former full names, empty or not).
async fn account(State(state): State<Arc<SimState>>, Path(login): Path<String>) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let Some(account) = data.account_by_login(&login) else {
        return github_error(StatusCode::NOT_FOUND, "no such account in the simulator");
    };
    let repositories: Vec<_> = account
        .repos
        .iter()
        .map(|&i| {
            let repo = &data.repos[i];
            json!({
                "id": repo.id,
                "full_name": repo.full_name,
                "former_names": data.former_names(i),
                "empty": repo.size == 0,
            })
        })
        .collect();
    Json(json!({
        "id": account.id,
        "login": account.login,
        "type": account.kind,
        "followers": account.followers.len(),
        "following": account.following.len(),
        "starred": account.starred.len(),
        "gists": account.gists,
        "members": account.members.len(),
        "repositories": repositories,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// Renames a repository, as its owner would on GitHub: the old name then
/// answers 301 to `/repositories/{id}`.
async fn rename(
    State(state): State<Arc<SimState>>,
    Path(id): Path<i64>,
    Json(body): Json<RenameBody>,
) -> Response {
    let valid = !body.name.is_empty()
        && body.name.len() <= 100
        && body
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a repository name of letters, digits, - _ and .",
        );
    }
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    match data.rename_repo(id, &body.name) {
        Some(full_name) => Json(json!({ "id": id, "full_name": full_name })).into_response(),
        None => github_error(
            StatusCode::NOT_FOUND,
            "no such repository, or the name is taken",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    login: String,
}

/// Renames an account, as its owner would on GitHub: the old login answers
/// 404 from now on; `/user/{id}` finds it under the new one.
async fn rename_account(
    State(state): State<Arc<SimState>>,
    Path(id): Path<i64>,
    Json(body): Json<LoginBody>,
) -> Response {
    if hubpulse_domain::Login::parse(&body.login).is_err() {
        return github_error(StatusCode::UNPROCESSABLE_ENTITY, "not a valid login");
    }
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    match data.rename_user(id, &body.login) {
        Some(login) => Json(json!({ "id": id, "login": login })).into_response(),
        None => github_error(
            StatusCode::NOT_FOUND,
            "no such account, or the login is taken",
        ),
    }
}
