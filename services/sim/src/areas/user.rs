//! The signed-in user: `GET /user` and `GET /user/repos`, answered only for
//! a live token the device flow issued (401 `Bad credentials` otherwise, as
//! for a revoked or expired token). Besides their public repositories each
//! user owns `[sim.oauth] private_repos` private ones, which no other list
//! and no other token shows; the first one's description is a spreadsheet
//! formula, as a stranger could write.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use hubpulse_domain::wire::RepoPayload;
use serde::{Deserialize, Serialize};

use super::Api;
use crate::data::{Account, Dataset};
use crate::links::{Links, Paging};
use crate::reply::{Call, Reply, github_error};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    api.route("/user", Resource::Core, get(me))
        .route("/user/repos", Resource::Core, get(my_repos))
}

/// Ids of private repositories: far above the generated public ones.
const PRIVATE_ID_BASE: i64 = 9_000_000_000;

/// The description of each user's first private repository.
pub const FORMULA_DESCRIPTION: &str = "=HYPERLINK(\"https://example.invalid/steal\",\"Open me\")";

fn token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

fn bad_credentials() -> Response {
    github_error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

/// `private-user`, the fields HubPulse reads and a few around them.
#[derive(Serialize)]
struct PrivateUser<'a> {
    login: &'a str,
    id: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    name: Option<&'a str>,
    html_url: String,
    avatar_url: String,
    total_private_repos: usize,
    owned_private_repos: usize,
}

async fn me(State(state): State<Arc<SimState>>, call: Call, headers: HeaderMap) -> Response {
    let Some(login) = token(&headers).and_then(|t| state.oauth.login_for(t)) else {
        return bad_credentials();
    };
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let Some(account) = data.account_by_login(&login) else {
        return bad_credentials();
    };
    let owner = account.owner();
    let private = state.settings.oauth.private_repos;
    Reply::json(&PrivateUser {
        login: &account.login,
        id: account.id,
        kind: "User",
        name: account.profile.name.as_deref(),
        html_url: owner.html_url.unwrap_or_default(),
        avatar_url: owner.avatar_url.unwrap_or_default(),
        total_private_repos: private,
        owned_private_repos: private,
    })
    .send(&state, &call)
}

/// The private repositories `account` owns, shaped like its public ones.
pub fn private_repos(data: &Dataset, account: &Account, count: usize) -> Vec<RepoPayload> {
    let Some(template) = account
        .repos
        .first()
        .map(|&i| &data.repos[i])
        .or(data.repos.first())
    else {
        return Vec::new();
    };
    (0..count)
        .map(|i| {
            let name = format!("private-{i:03}");
            let full_name = format!("{}/{name}", account.login);
            let description = match i {
                0 => FORMULA_DESCRIPTION.to_owned(),
                1 => "-1+1, notes @team, \"quoted\"\nsecond line".to_owned(),
                _ => format!("Private work {i}"),
            };
            RepoPayload {
                id: PRIVATE_ID_BASE + account.id * 100 + i as i64,
                node_id: None,
                html_url: format!("https://github.com/{full_name}"),
                url: Some(format!("https://api.github.com/repos/{full_name}")),
                name,
                full_name,
                private: true,
                owner: account.owner(),
                description: Some(description),
                fork: false,
                homepage: None,
                stargazers_count: 0,
                watchers_count: 0,
                forks_count: 0,
                visibility: Some("private".into()),
                score: None,
                ..template.clone()
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct Params {
    visibility: Option<String>,
    affiliation: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    per_page: Option<String>,
    page: Option<String>,
}

async fn my_repos(
    State(state): State<Arc<SimState>>,
    call: Call,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let Some(login) = token(&headers).and_then(|t| state.oauth.login_for(t)) else {
        return bad_credentials();
    };
    // GitHub's rule: `type` with `visibility` or `affiliation` is a 422.
    if params.kind.is_some() && (params.visibility.is_some() || params.affiliation.is_some()) {
        return Reply::error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed")
            .send(&state, &call);
    }
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    let Some(account) = data.account_by_login(&login) else {
        return bad_credentials();
    };
    let mut list: Vec<RepoPayload> = account
        .repos
        .iter()
        .map(|&i| RepoPayload {
            score: None,
            visibility: Some("public".into()),
            ..data.repos[i].clone()
        })
        .collect();
    list.extend(private_repos(
        &data,
        account,
        state.settings.oauth.private_repos,
    ));
    let visibility = params
        .visibility
        .as_deref()
        .or(match params.kind.as_deref() {
            Some("public") => Some("public"),
            Some("private") => Some("private"),
            _ => None,
        });
    match visibility {
        Some("public") => list.retain(|r| !r.private),
        Some("private") => list.retain(|r| r.private),
        _ => {}
    }
    list.sort_by(|a, b| {
        a.full_name
            .to_lowercase()
            .cmp(&b.full_name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    let paging = Paging::new(params.per_page.as_deref(), params.page.as_deref());
    let items = paging.window(&list).to_vec();
    let mut query = Vec::new();
    query.extend(params.visibility.clone().map(|v| ("visibility", v)));
    query.extend(params.affiliation.clone().map(|v| ("affiliation", v)));
    query.extend(params.kind.clone().map(|v| ("type", v)));
    let links = Links {
        path: "/user/repos".into(),
        other_alias: false,
        query,
        paging,
        last_page: paging.last_page(list.len()),
    };
    Reply::json(&items).with_links(links).send(&state, &call)
}
