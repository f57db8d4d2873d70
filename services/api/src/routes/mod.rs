mod developers;
mod docs;
mod gists;
mod gists_latest;
mod graph_repos;
mod graph_seed;
mod health;
mod keyset;
mod maintenance;
mod orgs;
mod orgs_chart;
mod page;
mod rate_limit;
mod sign_in;
mod task_queue;
mod tasks;
mod topics;
mod user_repos;
pub(crate) mod views;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HubPulse",
        description = "GitHub topics, developers, gists and contributors, crawled into PostgreSQL and served from a Redis cache."
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&AdminTokenScheme),
    tags(
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
        (name = "topics", description = "Repositories of GitHub topics, served from the cache"),
        (name = "tasks", description = "Background jobs"),
        (name = "graph", description = "Developers and repositories discovered from seed users"),
        (name = "orgs", description = "Tracked organisations and users: first-time contributors per month"),
        (name = "gists", description = "Tracked GitHub users' gists, posted to Pipedrive, and what is new since a visit"),
        (name = "maintenance", description = "What cron calls: migrations, crawls and cache refreshes"),
        (name = "auth", description = "Signing in with GitHub (device flow) and a user's repositories as CSV or JSON"),
    )
)]
struct ApiDoc;

/// `Authorization: Bearer <admin token>` for admin and maintenance routes.
struct AdminTokenScheme;

impl utoipa::Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route. The OpenAPI document is collected from the same
/// calls that register the handlers, so the two cannot drift apart.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page))
        .routes(routes!(views::by_name))
        .routes(routes!(views::popularity))
        .routes(routes!(views::activity))
        .routes(routes!(topics::list, topics::track))
        .routes(routes!(topics::untrack))
        .routes(routes!(tasks::show))
        .routes(routes!(task_queue::list, task_queue::create))
        .routes(routes!(task_queue::discover))
        .routes(routes!(developers::list))
        .routes(routes!(developers::by_login))
        .routes(routes!(developers::by_id))
        .routes(routes!(developers::followers))
        .routes(routes!(developers::following))
        .routes(routes!(developers::starred))
        .routes(routes!(graph_repos::list))
        .routes(routes!(graph_repos::by_name))
        .routes(routes!(graph_repos::by_id))
        .routes(routes!(graph_repos::stargazers))
        .routes(routes!(graph_repos::star_history))
        .routes(routes!(graph_repos::star_history_svg))
        .routes(routes!(graph_seed::developers))
        .routes(routes!(graph_seed::repositories))
        .routes(routes!(graph_seed::rate_limit))
        .routes(routes!(graph_seed::tasks, graph_seed::create_task))
        .routes(routes!(orgs::list, orgs::track))
        .routes(routes!(orgs::sync_all))
        .routes(routes!(orgs::untrack))
        .routes(routes!(orgs::new_contributors))
        .routes(routes!(orgs_chart::chart))
        .routes(routes!(gists::list, gists::track))
        .routes(routes!(gists::seed_list))
        .routes(routes!(gists::seed_track))
        .routes(routes!(gists::untrack))
        .routes(routes!(gists::scan_all))
        .routes(routes!(gists::scan_one))
        .routes(routes!(gists::deliver_all))
        .routes(routes!(gists_latest::latest))
        .routes(routes!(gists_latest::visit))
        .routes(routes!(gists_latest::seed_latest))
        .routes(routes!(gists_latest::outbox))
        .routes(routes!(rate_limit::show))
        .routes(routes!(rate_limit::clear))
        .routes(routes!(page::index))
        .routes(routes!(page::script))
        .routes(routes!(page::styles))
        .routes(routes!(page::overview))
        .routes(routes!(sign_in::start))
        .routes(routes!(sign_in::status))
        .routes(routes!(sign_in::session))
        .routes(routes!(sign_in::logout))
        .routes(routes!(sign_in::delete_token))
        .routes(routes!(user_repos::csv))
        .routes(routes!(user_repos::json))
        .routes(routes!(
            maintenance::bootstrap_db,
            maintenance::bootstrap_db_get
        ))
        .routes(routes!(
            maintenance::update_cache,
            maintenance::update_cache_get
        ))
}

#[cfg(test)]
mod tests {
    use hubpulse_domain::ViewKind;

    #[test]
    fn every_view_kind_is_served_where_the_domain_says() {
        let doc = super::router().split_for_parts().1;
        for kind in ViewKind::ALL {
            let path = format!("{}{{topic}}", kind.route_prefix());
            assert!(doc.paths.paths.contains_key(&path), "{path} is not routed");
        }
    }
}
