//! Repository statistics: `GET /repos/{o}/{r}/stats/contributors` (and
//! under `/repositories/{id}`). A repository's first asks answer 202 while
//! GitHub "computes" (`sim.stats.computing_replies`), then 200; an empty
//! repository answers 204. `PUT /_sim/repositories/{id}/stats` sets a
//! repository's own run of 202s (endless too) and adds contributors.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::Api;
use super::repos::{find, find_id};
use crate::reply::{Call, Reply};
use crate::state::{Resource, SimState};

pub fn routes(api: Api) -> Api {
    api.route(
        "/repos/{owner}/{name}/stats/contributors",
        Resource::Core,
        get(by_name),
    )
    .route(
        "/repositories/{id}/stats/contributors",
        Resource::Core,
        get(by_id),
    )
}

async fn by_name(
    State(state): State<Arc<SimState>>,
    call: Call,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let found = find(&state, &call, &owner, &name, "/stats/contributors");
    contributors(&state, &call, found)
}

async fn by_id(State(state): State<Arc<SimState>>, call: Call, Path(id): Path<String>) -> Response {
    let found = find_id(&state, &id);
    contributors(&state, &call, found)
}

fn contributors(state: &SimState, call: &Call, found: Result<usize, Reply>) -> Response {
    let reply = match found {
        Err(reply) => reply,
        Ok(i) => {
            let data = state.data.read().unwrap_or_else(|p| p.into_inner());
            if data.repos[i].size == 0 {
                Reply::no_content()
            } else if state.still_computing(data.repos[i].id) {
                Reply::accepted()
            } else {
                let newcomers = state.newcomers(data.repos[i].id);
                Reply::json(
                    &data
                        .contributor_stats_with(i, state.settings.seed, newcomers)
                        .unwrap_or_default(),
                )
            }
        }
    };
    reply.send(state, call)
}
