//! Repositories: `GET /repos/{owner}/{name}` (301 to `/repositories/{id}`
//! under a former name, as GitHub answers for a renamed or transferred
//! repository) and `GET /repositories/{id}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use hubpulse_domain::wire::RepoPayload;

use super::Api;
use crate::data::Lookup;
use crate::reply::{Call, Reply};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    api.route("/repos/{owner}/{name}", Resource::Core, get(by_name))
        .route("/repositories/{id}", Resource::Core, get(by_id))
}

/// The repository at `owner/name` as an index into `repos`, or the reply
/// to send instead: a 301 to `/repositories/{id}{rest}` for a former name,
/// or a 404.
pub fn find(
    state: &SimState,
    call: &Call,
    owner: &str,
    name: &str,
    rest: &str,
) -> Result<usize, Reply> {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    match data.lookup(owner, name) {
        Lookup::Here(i) => Ok(i),
        Lookup::Moved(id) => Err(Reply::moved(
            call.url(state, &format!("/repositories/{id}{rest}")),
        )),
        Lookup::Missing => Err(Reply::not_found()),
    }
}

/// The repository with this id, or the 404 to send.
pub fn find_id(state: &SimState, id: &str) -> Result<usize, Reply> {
    let data = state.data.read().unwrap_or_else(|p| p.into_inner());
    id.parse()
        .ok()
        .and_then(|id| data.repo_by_id(id))
        .ok_or_else(Reply::not_found)
}

async fn by_name(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let found = find(&state, &call, &owner, &name, "");
    one(&state, &call, found)
}

async fn by_id(State(state): State<Arc<SimState>>, call: Call, Path(id): Path<String>) -> Response {
    let found = find_id(&state, &id);
    one(&state, &call, found)
}

fn one(state: &SimState, call: &Call, found: Result<usize, Reply>) -> Response {
    let reply = found.map_or_else(
        |reply| reply,
        |i| {
            let data = state.data.read().unwrap_or_else(|p| p.into_inner());
            // `score` belongs to search results only.
            Reply::json(&RepoPayload {
                score: None,
                ..data.repos[i].clone()
            })
        },
    );
    reply.send(state, call)
}
