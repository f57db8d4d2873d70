//! Users and organisations: `GET /users/{login}`, `GET /user/{id}`, and
//! their repositories, whose `Link` URLs switch to `/user/{id}/repos` as
//! GitHub's do; an organisation's also at `/orgs/{org}/repos`, whose links
//! switch to `/organizations/{id}/repos` (a user there is a 404).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use hubpulse_domain::wire::{OwnerKind, RepoPayload};
use serde::{Deserialize, Serialize};

use super::Api;
use crate::data::{Account, Dataset};
use crate::links::{Links, Paging};
use crate::reply::{Call, Reply};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    api.route("/users/{login}", Resource::Core, get(user_by_login))
        .route("/user/{id}", Resource::Core, get(user_by_id))
        .route("/users/{login}/repos", Resource::Core, get(repos_by_login))
        .route("/user/{id}/repos", Resource::Core, get(repos_by_id))
        .route("/orgs/{org}/repos", Resource::Core, get(org_repos_by_login))
        .route(
            "/organizations/{id}/repos",
            Resource::Core,
            get(org_repos_by_id),
        )
}

const API: &str = "https://api.github.com";

/// `public-user`, the shape of `GET /users/{login}` for someone else.
#[derive(Serialize)]
struct PublicUser<'a> {
    login: &'a str,
    id: i64,
    node_id: String,
    avatar_url: String,
    gravatar_id: &'static str,
    url: String,
    html_url: String,
    followers_url: String,
    following_url: String,
    gists_url: String,
    starred_url: String,
    subscriptions_url: String,
    organizations_url: String,
    repos_url: String,
    events_url: String,
    received_events_url: String,
    #[serde(rename = "type")]
    kind: OwnerKind,
    user_view_type: &'static str,
    site_admin: bool,
    name: Option<&'a str>,
    company: Option<&'a str>,
    blog: &'a str,
    location: Option<&'a str>,
    /// Null unless the user made it public, which no simulated user did.
    email: Option<&'a str>,
    hireable: Option<bool>,
    bio: Option<&'a str>,
    twitter_username: Option<&'a str>,
    public_repos: usize,
    public_gists: usize,
    followers: usize,
    following: usize,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn public_user(account: &Account) -> PublicUser<'_> {
    let owner = account.owner();
    let me = format!("{API}/users/{}", encode_login(&account.login));
    let p = &account.profile;
    PublicUser {
        login: &account.login,
        id: account.id,
        node_id: owner.node_id.unwrap_or_default(),
        avatar_url: owner.avatar_url.unwrap_or_default(),
        gravatar_id: "",
        html_url: owner.html_url.unwrap_or_default(),
        followers_url: format!("{me}/followers"),
        following_url: format!("{me}/following{{/other_user}}"),
        gists_url: format!("{me}/gists{{/gist_id}}"),
        starred_url: format!("{me}/starred{{/owner}}{{/repo}}"),
        subscriptions_url: format!("{me}/subscriptions"),
        organizations_url: format!("{me}/orgs"),
        repos_url: format!("{me}/repos"),
        events_url: format!("{me}/events{{/privacy}}"),
        received_events_url: format!("{me}/received_events"),
        url: me,
        kind: account.kind,
        user_view_type: "public",
        site_admin: false,
        name: p.name.as_deref(),
        company: p.company.as_deref(),
        blog: &p.blog,
        location: p.location.as_deref(),
        email: None,
        hireable: p.hireable,
        bio: p.bio.as_deref(),
        twitter_username: None,
        public_repos: account.repos.len(),
        public_gists: account.gists.iter().filter(|g| g.public).count(),
        followers: account.followers.len(),
        following: account.following.len(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// `dependabot[bot]` is `/users/dependabot%5Bbot%5D` in GitHub's URLs.
pub(super) fn encode_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

async fn user_by_login(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(login): Path<String>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    user(&state, &call, data.account_by_login(&login))
}

async fn user_by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(id): Path<String>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = id.parse().ok().and_then(|id| data.account_by_id(id));
    user(&state, &call, account)
}

fn user(state: &SimState, call: &Call, account: Option<&Account>) -> Response {
    match account.filter(|a| !a.suspended) {
        Some(account) => Reply::json(&public_user(account)).send(state, call),
        None => Reply::not_found().send(state, call),
    }
}

#[derive(Debug, Deserialize)]
struct RepoParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    sort: Option<String>,
    direction: Option<String>,
    per_page: Option<String>,
    page: Option<String>,
}

async fn repos_by_login(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(login): Path<String>,
    Query(params): Query<RepoParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = data.account_by_login(&login);
    repos(&state, &call, &data, account, &params)
}

/// Only organisations answer under `/orgs`.
fn org(account: Option<&Account>) -> Option<&Account> {
    account.filter(|a| a.kind == OwnerKind::Organization)
}

async fn org_repos_by_login(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(login): Path<String>,
    Query(params): Query<RepoParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = org(data.account_by_login(&login));
    repos(&state, &call, &data, account, &params)
}

async fn org_repos_by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(id): Path<String>,
    Query(params): Query<RepoParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = org(id.parse().ok().and_then(|id| data.account_by_id(id)));
    repos(&state, &call, &data, account, &params)
}

async fn repos_by_id(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path(id): Path<String>,
    Query(params): Query<RepoParams>,
) -> Response {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let account = id.parse().ok().and_then(|id| data.account_by_id(id));
    repos(&state, &call, &data, account, &params)
}

/// The account's public repositories: `type` owner (default) or all (the
/// same here) or member (none); `sort` full_name (default, ascending),
/// created, updated or pushed (descending); `direction` overrides.
fn repos(
    state: &SimState,
    call: &Call,
    data: &Dataset,
    account: Option<&Account>,
    params: &RepoParams,
) -> Response {
    let Some(account) = account.filter(|a| !a.suspended) else {
        return Reply::not_found().send(state, call);
    };
    let mut list: Vec<&RepoPayload> = match params.kind.as_deref() {
        Some("member") => Vec::new(),
        _ => account.repos.iter().map(|&i| &data.repos[i]).collect(),
    };
    let sort = params.sort.as_deref().unwrap_or("full_name");
    let descending = match params.direction.as_deref() {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort != "full_name",
    };
    list.sort_by(|a, b| {
        let order = match sort {
            "created" => a.created_at.cmp(&b.created_at),
            "updated" => a.updated_at.cmp(&b.updated_at),
            "pushed" => a.pushed_at.cmp(&b.pushed_at),
            _ => a.full_name.to_lowercase().cmp(&b.full_name.to_lowercase()),
        }
        .then(a.id.cmp(&b.id));
        if descending { order.reverse() } else { order }
    });
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let items: Vec<RepoPayload> = paging
        .window(&list)
        .iter()
        .map(|&r| RepoPayload {
            score: None,
            ..r.clone()
        })
        .collect();
    let mut query = Vec::new();
    query.extend(params.kind.clone().map(|v| ("type", v)));
    query.extend(params.sort.clone().map(|v| ("sort", v)));
    query.extend(params.direction.clone().map(|v| ("direction", v)));
    let under = call.path.strip_prefix(call.prefix()).unwrap_or(&call.path);
    let path = if under.starts_with("/orgs/") || under.starts_with("/organizations/") {
        format!("/organizations/{}/repos", account.id)
    } else {
        format!("/user/{}/repos", account.id)
    };
    let links = Links {
        path,
        other_alias: false,
        query,
        paging,
        last_page: paging.last_page(list.len()),
    };
    Reply::json(&items).with_links(links).send(state, call)
}
