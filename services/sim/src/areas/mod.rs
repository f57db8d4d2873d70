//! GitHub's endpoints by area, each served at `/` and under GitHub
//! Enterprise's `/api/v3` alias, plus the `/_sim` admin routes (`admin`).
//!
//! An area is one module with `pub fn routes(api: Api) -> Api` declaring
//! each route with its rate-limit resource; its handlers answer through
//! `reply::Reply::send`. Adding an area: the module, `mod name;` below and
//! one `let api = name::routes(api);` in `router`.

mod admin;
mod gists;
mod graph;
mod oauth;
pub mod pipedrive;
mod rate_limit;
mod repos;
mod search;
mod stats;
mod user;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;

use crate::fault::faulted;
use crate::state::{Resource, SimState};

pub const ALIAS: &str = "/api/v3";

/// The GitHub routes being declared.
pub struct Api {
    state: Arc<SimState>,
    router: Router<Arc<SimState>>,
}

impl Api {
    /// Declares `path` with the quota bucket it spends from; the route
    /// wears the fault layer, which hands the bucket to its `Call`.
    pub fn route(
        mut self,
        path: &str,
        resource: Resource,
        method: MethodRouter<Arc<SimState>>,
    ) -> Self {
        let layer = from_fn_with_state((self.state.clone(), resource), faulted);
        self.router = self.router.route(path, method.layer(layer));
        self
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    let api = Api {
        state: state.clone(),
        router: Router::new(),
    };
    let api = search::routes(api);
    let api = rate_limit::routes(api);
    let api = users::routes(api);
    let api = repos::routes(api);
    let api = stats::routes(api);
    let api = gists::routes(api);
    let api = user::routes(api);
    let api = graph::routes(api);
    let api = api.router;
    Router::new()
        .merge(api.clone())
        .nest(ALIAS, api)
        .merge(admin::routes())
        .merge(gists::admin_routes())
        .merge(pipedrive::router(
            state.settings.pipedrive.clone(),
            state.settings.seed,
        ))
        .merge(oauth::routes())
        .fallback(not_found)
        .with_state(state)
}

/// GitHub's JSON 404 for a path no area serves (no quota, no faults).
async fn not_found() -> axum::response::Response {
    crate::reply::github_error(axum::http::StatusCode::NOT_FOUND, "Not Found")
}
