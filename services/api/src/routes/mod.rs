mod docs;
mod health;

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
    tags((name = "operations", description = "Liveness, readiness, metrics and this document"))
)]
struct ApiDoc;

/// Every documented route. The OpenAPI document is collected from the same
/// calls that register the handlers, so the two cannot drift apart.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page))
}

pub use docs::OpenApiDocument;
