//! The social graph: followers, following and starred of an account (by
//! login, and by id as GitHub's `Link` URLs switch to), a repository's
//! stargazers, weekly star history and star count (by name, and by id).
//!
//! List items are GitHub's "simple users": no name, location, bio or
//! counts. A suspended account's profile and lists answer 404. Since July
//! 2026 GitHub lists a repository's stargazers only to its admins and
//! collaborators; here the service token counts as a collaborator of the
//! named accounts' repositories only (`[[sim.accounts.named]]`); anyone
//! else gets what GitHub was seen to answer: 401 without a token, else
//! 404, 403 or an empty list, by repository id.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use hubpulse_domain::wire::{OwnerKind, RepoPayload};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Api;
use super::repos::{find, find_id};
use crate::data::graph::week_of;
use crate::data::{Account, Dataset, data_now};
use crate::links::{Links, Paging};
use crate::reply::{Call, Reply};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    let api = ["followers", "following", "starred"]
        .into_iter()
        .fold(api, |api, list| {
            api.route(
                &format!("/users/{{login}}/{list}"),
                Resource::Core,
                get(move |s, c, h, p, q| by_login(s, c, h, p, q, list)),
            )
            .route(
                &format!("/user/{{id}}/{list}"),
                Resource::Core,
                get(move |s, c, h, p, q| by_id(s, c, h, p, q, list)),
            )
        });
    ["stargazers", "stargazers/history", "stargazers/count"]
        .into_iter()
        .fold(api, |api, what| {
            api.route(
                &format!("/repos/{{owner}}/{{name}}/{what}"),
                Resource::Core,
                get(move |s, c, h, p, q| repo_by_name(s, c, h, p, q, what)),
            )
            .route(
                &format!("/repositories/{{id}}/{what}"),
                Resource::Core,
                get(move |s, c, h, p, q| repo_by_id(s, c, h, p, q, what)),
            )
        })
}

const API: &str = "https://api.github.com";

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    per_page: Option<String>,
    page: Option<String>,
}

/// `simple-user`: what every list of accounts holds.
#[derive(Serialize)]
struct SimpleUser<'a> {
    login: &'a str,
    id: i64,
    node_id: String,
    avatar_url: String,
    gravatar_id: &'static str,
    url: String,
    html_url: String,
    followers_url: String,
    following_url: String,
    starred_url: String,
    repos_url: String,
    #[serde(rename = "type")]
    kind: OwnerKind,
    user_view_type: &'static str,
    site_admin: bool,
}

fn simple_user(account: &Account) -> SimpleUser<'_> {
    let owner = account.owner();
    let me = format!("{API}/users/{}", super::users::encode_login(&account.login));
    SimpleUser {
        login: &account.login,
        id: account.id,
        node_id: owner.node_id.unwrap_or_default(),
        avatar_url: owner.avatar_url.unwrap_or_default(),
        gravatar_id: "",
        html_url: owner.html_url.unwrap_or_default(),
        followers_url: format!("{me}/followers"),
        following_url: format!("{me}/following{{/other_user}}"),
        starred_url: format!("{me}/starred{{/owner}}{{/repo}}"),
        repos_url: format!("{me}/repos"),
        url: me,
        kind: account.kind,
        user_view_type: "public",
        site_admin: false,
    }
}

/// Asked with `application/vnd.github.star+json`: items carry `starred_at`.
fn star_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("star+json"))
}

async fn by_login(
    State(state): State<Arc<SimState>>,
    call: Call,
    headers: HeaderMap,
    Path(login): Path<String>,
    Query(params): Query<ListParams>,
    list: &'static str,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = data.account_by_login(&login);
    account_list(&state, &call, &headers, &data, account, &params, list)
}

async fn by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
    list: &'static str,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = id.parse().ok().and_then(|id| data.account_by_id(id));
    account_list(&state, &call, &headers, &data, account, &params, list)
}

fn account_list(
    state: &SimState,
    call: &Call,
    headers: &HeaderMap,
    data: &Dataset,
    account: Option<&Account>,
    params: &ListParams,
    list: &'static str,
) -> Response {
    let Some(account) = account.filter(|a| !a.suspended) else {
        return Reply::not_found().send(state, call);
    };
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let (reply, total) = match list {
        "starred" => {
            let page = paging.window(&account.starred);
            let reply = if star_json(headers) {
                let items: Vec<_> = page
                    .iter()
                    .map(|s| json!({ "starred_at": s.starred_at, "repo": repo(data, s.repo) }))
                    .collect();
                Reply::json(&items)
            } else {
                let items: Vec<_> = page.iter().map(|s| repo(data, s.repo)).collect();
                Reply::json(&items)
            };
            (reply, account.starred.len())
        }
        _ => {
            let ids = if list == "followers" {
                &account.followers
            } else {
                &account.following
            };
            let items: Vec<_> = paging
                .window(ids)
                .iter()
                .map(|&i| simple_user(&data.accounts[i]))
                .collect();
            (Reply::json(&items), ids.len())
        }
    };
    let links = Links {
        path: format!("/user/{}/{list}", account.id),
        other_alias: false,
        query: Vec::new(),
        paging,
        last_page: paging.last_page(total),
    };
    reply.with_links(links).send(state, call)
}

fn repo(data: &Dataset, i: usize) -> RepoPayload {
    RepoPayload {
        score: None,
        ..data.repos[i].clone()
    }
}

async fn repo_by_name(
    State(state): State<Arc<SimState>>,
    call: Call,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    Query(params): Query<ListParams>,
    what: &'static str,
) -> Response {
    let found = find(&state, &call, &owner, &name, &format!("/{what}"));
    repo_list(&state, &call, &headers, found, &params, what)
}

async fn repo_by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
    what: &'static str,
) -> Response {
    let found = find_id(&state, &id);
    repo_list(&state, &call, &headers, found, &params, what)
}

fn repo_list(
    state: &SimState,
    call: &Call,
    headers: &HeaderMap,
    found: Result<usize, Reply>,
    params: &ListParams,
    what: &'static str,
) -> Response {
    let i = match found {
        Ok(i) => i,
        Err(reply) => return reply.send(state, call),
    };
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let id = data.repos[i].id;
    let reply = match what {
        "stargazers/count" => Reply::json(&json!({ "count": data.repos[i].stargazers_count })),
        "stargazers/history" => return history(state, call, &data, i, params),
        _ => match refusal(state, call, &data.repos[i]) {
            Some(reply) => reply,
            None => {
                let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
                let stars = data.stargazers(i);
                let page = paging.window(&stars);
                let reply = if star_json(headers) {
                    let items: Vec<_> = page
                        .iter()
                        .map(|&(u, at)| json!({ "starred_at": at, "user": simple_user(&data.accounts[u]) }))
                        .collect();
                    Reply::json(&items)
                } else {
                    let items: Vec<_> = page
                        .iter()
                        .map(|&(u, _)| simple_user(&data.accounts[u]))
                        .collect();
                    Reply::json(&items)
                };
                reply.with_links(Links {
                    path: format!("/repositories/{id}/stargazers"),
                    other_alias: false,
                    query: Vec::new(),
                    paging,
                    last_page: paging.last_page(stars.len()),
                })
            }
        },
    };
    reply.send(state, call)
}

/// Why this caller may not list the repository's stargazers, if it may not.
fn refusal(state: &SimState, call: &Call, repo: &RepoPayload) -> Option<Reply> {
    let collaborator = call.caller != "anonymous"
        && state
            .settings
            .accounts
            .named
            .iter()
            .any(|n| n.login.eq_ignore_ascii_case(&repo.owner.login));
    if collaborator {
        return None;
    }
    if call.caller == "anonymous" {
        return Some(Reply::error(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
        ));
    }
    Some(match repo.id.rem_euclid(3) {
        0 => Reply::not_found(),
        1 => Reply::error(
            StatusCode::FORBIDDEN,
            "Must have admin rights to Repository.",
        ),
        _ => Reply::json(&Vec::<()>::new()),
    })
}

/// Weekly stars, newest week first: `{week, total, days[7]}` from the week
/// of the data set's "now" back to the week of the first star. At most 30
/// weeks a page and 100 pages, as GitHub documents.
fn history(
    state: &SimState,
    call: &Call,
    data: &Dataset,
    i: usize,
    params: &ListParams,
) -> Response {
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let paging = Paging {
        per_page: paging.per_page.min(30),
        ..paging
    };
    if paging.page > 100 {
        return Reply::error(StatusCode::UNPROCESSABLE_ENTITY, "page must be at most 100")
            .send(state, call);
    }
    let stars: Vec<DateTime<Utc>> = data.stargazers(i).into_iter().map(|(_, at)| at).collect();
    let weeks = weeks(&stars);
    let reply = Reply::json(paging.window(&weeks)).with_links(Links {
        path: format!("/repositories/{}/stargazers/history", data.repos[i].id),
        other_alias: false,
        query: Vec::new(),
        paging,
        last_page: paging.last_page(weeks.len()).min(100),
    });
    reply.send(state, call)
}

#[derive(Debug, Clone, Serialize)]
struct Week {
    week: i64,
    total: u64,
    days: [u64; 7],
}

fn weeks(stars: &[DateTime<Utc>]) -> Vec<Week> {
    let Some(first) = stars.iter().min() else {
        return Vec::new();
    };
    let (first, last) = (week_of(*first), week_of(data_now()));
    let mut weeks: Vec<Week> = (0..=(last - first) / (7 * 86_400))
        .map(|k| Week {
            week: last - k * 7 * 86_400,
            total: 0,
            days: [0; 7],
        })
        .collect();
    for at in stars {
        let k = ((last - week_of(*at)) / (7 * 86_400)) as usize;
        let day = ((at.timestamp() - week_of(*at)) / 86_400) as usize;
        if let Some(w) = weeks.get_mut(k) {
            w.total += 1;
            w.days[day.min(6)] += 1;
        }
    }
    weeks
}
