//! Users' public gists: `GET /users/{login}/gists` and its id alias
//! `/user/{id}/gists` (where `Link` URLs lead), ordered by `created_at`
//! descending as GitHub's recorded lists are, with `since` filtering on
//! `updated_at` (so an old gist edited later sits on a late page). Files
//! are an object keyed by name; languages may be null; a gist may have no
//! files. Admin routes (`/_sim/accounts/{login}/gists...`) add, change,
//! rename and remove gists, so tests can watch a scan notice.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::Api;
use crate::data::{Account, Gist, GistFile};
use crate::links::{Links, Paging};
use crate::reply::{Call, Reply, github_error};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    api.route("/users/{login}/gists", Resource::Core, get(by_login))
        .route("/user/{id}/gists", Resource::Core, get(by_id))
}

/// `/_sim/accounts/{login}/gists...`: never faulted, free.
pub fn admin_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/_sim/accounts/{login}/gists",
            axum::routing::post(generate),
        )
        .route(
            "/_sim/accounts/{login}/gists/{id}",
            put(put_gist).delete(delete_gist),
        )
}

#[derive(Debug, Deserialize)]
struct GistParams {
    since: Option<String>,
    per_page: Option<String>,
    page: Option<String>,
}

async fn by_login(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(login): Path<String>,
    Query(params): Query<GistParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    list(&state, &call, data.account_by_login(&login), &params)
}

async fn by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(id): Path<String>,
    Query(params): Query<GistParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = id.parse().ok().and_then(|id| data.account_by_id(id));
    list(&state, &call, account, &params)
}

fn list(state: &SimState, call: &Call, account: Option<&Account>, params: &GistParams) -> Response {
    let Some(account) = account else {
        return Reply::not_found().send(state, call);
    };
    let since = match params.since.as_deref() {
        None => None,
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                return Reply::error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid request.\n\nsince is not a timestamp.",
                )
                .send(state, call);
            }
        },
    };
    let mut gists: Vec<&Gist> = account
        .gists
        .iter()
        .filter(|g| g.public && since.is_none_or(|s| g.updated_at > s))
        .collect();
    gists.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let items: Vec<Value> = paging
        .window(&gists)
        .iter()
        .map(|g| wire(account, g))
        .collect();
    let links = Links {
        path: format!("/user/{}/gists", account.id),
        other_alias: false,
        query: params
            .since
            .clone()
            .map(|s| ("since", s))
            .into_iter()
            .collect(),
        paging,
        last_page: paging.last_page(gists.len()),
    };
    Reply::json(&items).with_links(links).send(state, call)
}

/// `base-gist` as GitHub lists it: `user` null, no `content`.
fn wire(account: &Account, gist: &Gist) -> Value {
    let owner = account.owner();
    let files: Map<String, Value> = gist
        .files
        .iter()
        .map(|f| {
            let sha =
                hex::encode(&Sha256::digest(format!("{}{}{}", gist.id, f.filename, f.size))[..20]);
            let raw_url = format!(
                "https://gist.githubusercontent.com/{}/{}/raw/{sha}/{}",
                account.login,
                gist.id,
                percent_encoding::utf8_percent_encode(
                    &f.filename,
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            let value = json!({
                "filename": f.filename,
                "type": mime(&f.filename),
                "language": f.language,
                "raw_url": raw_url,
                "size": f.size,
            });
            (f.filename.clone(), value)
        })
        .collect();
    json!({
        "url": format!("https://api.github.com/gists/{}", gist.id),
        "forks_url": format!("https://api.github.com/gists/{}/forks", gist.id),
        "commits_url": format!("https://api.github.com/gists/{}/commits", gist.id),
        "id": gist.id,
        "node_id": format!("G_{}", gist.id),
        "git_pull_url": format!("https://gist.github.com/{}.git", gist.id),
        "git_push_url": format!("https://gist.github.com/{}.git", gist.id),
        "html_url": format!("https://gist.github.com/{}/{}", account.login, gist.id),
        "files": files,
        "public": gist.public,
        "created_at": gist.created_at,
        "updated_at": gist.updated_at,
        "description": gist.description,
        "comments": 0,
        "comments_enabled": true,
        "user": null,
        "comments_url": format!("https://api.github.com/gists/{}/comments", gist.id),
        "owner": owner,
        "truncated": false,
    })
}

fn mime(filename: &str) -> &'static str {
    match filename.rsplit('.').next() {
        Some("md") => "text/markdown",
        Some("py") => "application/x-python",
        Some("rs") => "application/rls-services+xml",
        _ => "text/plain",
    }
}

/// The body of `PUT /_sim/accounts/{login}/gists/{id}`: the gist's whole
/// file list (a renamed file is one name gone and one new).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GistBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<FileBody>,
    /// Defaults to now for a new gist; kept for an existing one.
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    filename: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    size: u64,
}

fn account_index(state: &SimState, login: &str) -> Option<usize> {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    data.accounts
        .iter()
        .position(|a| a.login.eq_ignore_ascii_case(login))
}

fn no_account() -> Response {
    github_error(StatusCode::NOT_FOUND, "no such account in the simulator")
}

/// Creates or replaces a gist; its `updated_at` becomes now.
async fn put_gist(
    State(state): State<Arc<SimState>>,
    Path((login, id)): Path<(String, String)>,
    Json(body): Json<GistBody>,
) -> Response {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a gist id of letters and digits",
        );
    }
    let Some(i) = account_index(&state, &login) else {
        return no_account();
    };
    // GitHub's timestamps have whole seconds.
    let now = Utc::now().trunc_subsecs(0);
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    let gists = &mut data.accounts[i].gists;
    let files = body
        .files
        .into_iter()
        .map(|f| GistFile {
            filename: f.filename,
            language: f.language,
            size: f.size,
        })
        .collect();
    match gists.iter_mut().find(|g| g.id == id) {
        Some(gist) => {
            gist.files = files;
            gist.description = body.description;
            gist.updated_at = now;
        }
        None => gists.push(Gist {
            id: id.clone(),
            description: body.description,
            public: true,
            files,
            created_at: body.created_at.unwrap_or(now),
            updated_at: now,
        }),
    }
    data.generation += 1;
    (StatusCode::OK, Json(json!({ "id": id, "updated_at": now }))).into_response()
}

async fn delete_gist(
    State(state): State<Arc<SimState>>,
    Path((login, id)): Path<(String, String)>,
) -> Response {
    let Some(i) = account_index(&state, &login) else {
        return no_account();
    };
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    let gists = &mut data.accounts[i].gists;
    let before = gists.len();
    gists.retain(|g| g.id != id);
    if gists.len() == before {
        return github_error(StatusCode::NOT_FOUND, "no such gist");
    }
    data.generation += 1;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateBody {
    count: usize,
    files_per_gist: usize,
}

/// Adds `count` new gists of `files_per_gist` files each (names with
/// spaces and parentheses, every fourth language null), created now.
async fn generate(
    State(state): State<Arc<SimState>>,
    Path(login): Path<String>,
    Json(body): Json<GenerateBody>,
) -> Response {
    if body.count > 10_000 || body.files_per_gist > 300 {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 10,000 gists of at most 300 files",
        );
    }
    let Some(i) = account_index(&state, &login) else {
        return no_account();
    };
    // GitHub's timestamps have whole seconds.
    let now = Utc::now().trunc_subsecs(0);
    let mut data = state.data.write().unwrap_or_else(|p| p.into_inner());
    let gists = &mut data.accounts[i].gists;
    let start = gists.len();
    let mut ids = Vec::new();
    for n in 0..body.count {
        let id = hex::encode(&Sha256::digest(format!("{login}/{start}/{n}/{now}"))[..16]);
        let files = (0..body.files_per_gist)
            .map(|f| GistFile {
                filename: format!(
                    "snippet ({n}) file {f}.{}",
                    ["rs", "py", "md", "xyz"][f % 4]
                ),
                language: [Some("Rust"), Some("Python"), Some("Markdown"), None][f % 4]
                    .map(str::to_owned),
                size: (n * 31 + f) as u64,
            })
            .collect();
        gists.push(Gist {
            id: id.clone(),
            description: Some(format!("generated {n}")),
            public: true,
            files,
            created_at: now,
            updated_at: now,
        });
        ids.push(id);
    }
    data.generation += 1;
    Json(json!({ "ids": ids })).into_response()
}
