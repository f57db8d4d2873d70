//! Repositories of the graph: the filtered, keyset-paged list, one
//! repository by name (a former name still finds it) or GitHub id, its
//! stargazers as far as GitHub listed them, and its weekly star history as
//! JSON and as an SVG chart.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{Uri, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use hubpulse_domain::RepoFullName;
use hubpulse_store::graph_lists::{
    self, DEVELOPER_COLUMNS, Filter, Order, RepositoryRow, contains,
};
use serde::{Deserialize, Serialize};

use super::developers::{Developer, RelatedParams};
use super::keyset::{self, COUNT_BOUND, Envelope, IdPage};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Repository {
    id: i64,
    #[schema(example = "octocat/hello-world")]
    full_name: String,
    owner_id: i64,
    #[schema(required = true)]
    description: Option<String>,
    #[schema(required = true)]
    language: Option<String>,
    stargazers_count: i64,
    forks_count: i64,
    html_url: String,
    fork: bool,
    archived: bool,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    pushed_at: Option<DateTime<Utc>>,
    /// `listed`, `restricted` (GitHub refused the list: only admins and
    /// collaborators may read it since July 2026) or `unknown`.
    #[schema(example = "restricted")]
    stargazers: String,
}

impl From<RepositoryRow> for Repository {
    fn from(r: RepositoryRow) -> Self {
        Self {
            id: r.id,
            full_name: format!("{}/{}", r.owner_login, r.name),
            owner_id: r.owner_id,
            description: r.description,
            language: r.language,
            stargazers_count: r.stargazers_count,
            forks_count: r.forks_count,
            html_url: r.html_url,
            fork: r.fork,
            archived: r.archived,
            created_at: r.created_at,
            pushed_at: r.pushed_at,
            stargazers: r.stargazers,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StarredRepository {
    #[schema(required = true)]
    pub starred_at: Option<DateTime<Utc>>,
    pub repository: Repository,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepositoryParams {
    /// `stars` (default), `created` or `name`.
    #[param(value_type = Option<String>, pattern = "^(stars|created|name)$")]
    sort: Option<String>,
    /// `asc` or `desc`; each sort has its own default.
    #[param(value_type = Option<String>, pattern = "^(asc|desc)$")]
    direction: Option<String>,
    /// 1 to 100 (default 30).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
    /// From a previous page's `next` or `previous`.
    #[param(value_type = Option<String>, pattern = "^6[12]3a(3[0-9]){1,18}3a([0-9a-f]{2}){0,100}$")]
    cursor: Option<String>,
    /// Exactly this language (case-insensitive).
    #[param(value_type = Option<String>, min_length = 1, max_length = 100)]
    language: Option<String>,
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000000)]
    stars_min: Option<String>,
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000000)]
    stars_max: Option<String>,
    /// Name or description contains (case-insensitive).
    #[param(value_type = Option<String>, min_length = 1, max_length = 100)]
    q: Option<String>,
    /// Whether a description is set.
    #[param(value_type = Option<bool>)]
    has_description: Option<String>,
}

fn order(sort: Option<&str>, direction: Option<&str>) -> Result<Order, ApiError> {
    let order = match sort.unwrap_or("stars") {
        "stars" => Order::STARS,
        "created" => Order::REPO_CREATED,
        "name" => Order::NAME,
        _ => {
            return Err(ApiError::BadRequest(
                "sort must be stars, created or name".into(),
            ));
        }
    };
    Ok(match direction {
        None => order,
        Some("asc") => Order {
            descending: false,
            ..order
        },
        Some("desc") => Order {
            descending: true,
            ..order
        },
        Some(_) => return Err(ApiError::BadRequest("direction must be asc or desc".into())),
    })
}

fn filters(p: &RepositoryParams) -> Result<Vec<Filter>, ApiError> {
    let mut f = Vec::new();
    let max = 1_000_000_000;
    if let Some(n) = keyset::number("stars_min", p.stars_min.as_deref(), 0, max)? {
        f.push(Filter::with("stargazers_count >= $?::bigint", n));
    }
    if let Some(n) = keyset::number("stars_max", p.stars_max.as_deref(), 0, max)? {
        f.push(Filter::with("stargazers_count <= $?::bigint", n));
    }
    if let Some(language) = keyset::text("language", p.language.as_deref())? {
        f.push(Filter::with("lower(language) = lower($?)", language));
    }
    if let Some(text) = keyset::text("q", p.q.as_deref())? {
        f.push(Filter::with(
            "(name ILIKE $? OR description ILIKE $?)",
            contains(&text),
        ));
    }
    match keyset::flag("has_description", p.has_description.as_deref())? {
        Some(true) => f.push(Filter::bare("description IS NOT NULL")),
        Some(false) => f.push(Filter::bare("description IS NULL")),
        None => {}
    }
    Ok(f)
}

/// Repositories, filtered and sorted, a keyset page at a time.
#[utoipa::path(get, path = "/v1/repositories", tag = "graph", params(RepositoryParams),
    responses(
        (status = 200, description = "A page of repositories", body = Envelope<Repository>),
        (status = 400, description = "A bad parameter or cursor", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    Query(params): Query<RepositoryParams>,
) -> Result<Json<Envelope<Repository>>, ApiError> {
    let order = order(params.sort.as_deref(), params.direction.as_deref())?;
    let per_page = keyset::per_page(params.per_page.as_deref())?;
    let from = params.cursor.as_deref().map(keyset::decode).transpose()?;
    let filters = filters(&params)?;
    let conn = state.store().read_conn().await?;
    if from
        .as_ref()
        .is_some_and(|k| !keyset::fits(order.cast, &k.key))
    {
        return Ok(Json(keyset::nowhere()));
    }
    let page = graph_lists::page(
        &conn,
        &graph_lists::REPOSITORIES,
        &filters,
        order,
        from.as_ref(),
        per_page,
    )
    .await?;
    // The table, not the view: every filter is on its columns, and every
    // repository has its owner, so the count is the same without the join.
    let count = graph_lists::count(&conn, "repositories", &filters, COUNT_BOUND).await?;
    Ok(Json(keyset::envelope(
        &uri,
        page,
        from.as_ref(),
        count,
        Repository::from,
    )))
}

async fn one(
    state: &AppState,
    name: Option<&str>,
    id: Option<i64>,
) -> Result<RepositoryRow, ApiError> {
    graph_lists::repository(&state.store().read_conn().await?, name, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such repository".into()))
}

fn full_name(owner: &str, name: &str) -> Result<String, ApiError> {
    Ok(RepoFullName::parse(&format!("{owner}/{name}"))?.to_string())
}

/// One repository by `owner/name`; a former name finds the renamed one.
#[utoipa::path(get, path = "/v1/repositories/{owner}/{name}", tag = "graph",
    params(("owner" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), ("name" = String, Path, pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")),
    responses(
        (status = 200, description = "The repository", body = Repository),
        (status = 400, description = "Not a repository name", body = crate::error::ErrorBody),
        (status = 404, description = "No such repository", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn by_name(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<Repository>, ApiError> {
    let full = full_name(&owner, &name)?;
    Ok(Json(one(&state, Some(&full), None).await?.into()))
}

/// One repository by GitHub id.
#[utoipa::path(get, path = "/v1/repositories/by-id/{id}", tag = "graph",
    params(("id" = i64, Path, description = "GitHub repository id", minimum = 1)),
    responses(
        (status = 200, description = "The repository", body = Repository),
        (status = 400, description = "Not an id", body = crate::error::ErrorBody),
        (status = 404, description = "No such repository", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn by_id(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Repository>, ApiError> {
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::BadRequest("id must be a positive whole number".into()))?;
    Ok(Json(one(&state, None, Some(id)).await?.into()))
}

/// The stargazers HubPulse saw (GitHub lists them only to collaborators
/// since July 2026: see the repository's `stargazers` state).
#[utoipa::path(get, path = "/v1/repositories/{owner}/{name}/stargazers", tag = "graph",
    params(("owner" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), ("name" = String, Path, pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$"), RelatedParams),
    responses(
        (status = 200, description = "A page of stargazers", body = IdPage<Developer>),
        (status = 400, description = "Not a repository name, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such repository", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn stargazers(
    State(state): State<AppState>,
    uri: Uri,
    Path((owner, name)): Path<(String, String)>,
    Query(params): Query<RelatedParams>,
) -> Result<Json<IdPage<Developer>>, ApiError> {
    let full = full_name(&owner, &name)?;
    let per_page = keyset::per_page(params.per_page())?;
    let after = keyset::after(params.cursor())?;
    let repo = one(&state, Some(&full), None).await?;
    let conn = state.store().read_conn().await?;
    let (ids, more) =
        graph_lists::related_ids(&conn, graph_lists::STARGAZERS_OF, repo.id, after, per_page)
            .await?;
    let ids: Vec<i64> = ids.into_iter().map(|(id, _)| id).collect();
    let rows = graph_lists::rows_by_ids(
        &conn,
        "developers",
        DEVELOPER_COLUMNS,
        &ids,
        graph_lists::developer_row,
    )
    .await?;
    Ok(Json(IdPage {
        next: keyset::next_by_id(&uri, more, ids.last().copied()),
        results: rows.into_iter().map(Developer::from).collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StarHistory {
    #[schema(example = "octocat/hello-world")]
    full_name: String,
    stargazers_count: i64,
    /// Oldest week first: stars still held, by the week (Sunday, UTC) acquired.
    weeks: Vec<StarWeek>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StarWeek {
    week: DateTime<Utc>,
    stars: i64,
    /// Stars up to and including this week.
    cumulative: i64,
}

async fn history(state: &AppState, owner: &str, name: &str) -> Result<StarHistory, ApiError> {
    let full = full_name(owner, name)?;
    let repo = one(state, Some(&full), None).await?;
    let weeks = graph_lists::star_history(&state.store().read_conn().await?, repo.id).await?;
    let mut cumulative = 0;
    Ok(StarHistory {
        full_name: format!("{}/{}", repo.owner_login, repo.name),
        stargazers_count: repo.stargazers_count,
        weeks: weeks
            .into_iter()
            .map(|(week, stars)| {
                cumulative += stars;
                StarWeek {
                    week,
                    stars,
                    cumulative,
                }
            })
            .collect(),
    })
}

/// A repository's weekly star history (from GitHub's
/// `/stargazers/history`; no identities).
#[utoipa::path(get, path = "/v1/repositories/{owner}/{name}/star-history", tag = "graph",
    params(("owner" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), ("name" = String, Path, pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")),
    responses(
        (status = 200, description = "Weekly stars", body = StarHistory),
        (status = 400, description = "Not a repository name", body = crate::error::ErrorBody),
        (status = 404, description = "No such repository", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn star_history(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<StarHistory>, ApiError> {
    Ok(Json(history(&state, &owner, &name).await?))
}

/// The star history as an SVG line chart of cumulative stars.
#[utoipa::path(get, path = "/v1/repositories/{owner}/{name}/star-history.svg", tag = "graph",
    params(("owner" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), ("name" = String, Path, pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")),
    responses(
        (status = 200, description = "An SVG chart", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Not a repository name", body = crate::error::ErrorBody),
        (status = 404, description = "No such repository", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn star_history_svg(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let history = history(&state, &owner, &name).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg(&history)))
}

/// A plain polyline: no dependency for one chart. Text is escaped.
fn svg(h: &StarHistory) -> String {
    let (w, ht, pad) = (640.0, 240.0, 30.0);
    let max = h.weeks.last().map_or(0, |w| w.cumulative).max(1) as f64;
    let n = h.weeks.len().max(2) as f64 - 1.0;
    let points: Vec<String> = h
        .weeks
        .iter()
        .enumerate()
        .map(|(i, wk)| {
            let x = pad + (w - 2.0 * pad) * i as f64 / n;
            let y = ht - pad - (ht - 2.0 * pad) * wk.cumulative as f64 / max;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let title = h
        .full_name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\">\
         <title>{title}: star history</title>\
         <text x=\"{pad}\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">{title} — {} stars</text>\
         <polyline fill=\"none\" stroke=\"#e3b341\" stroke-width=\"2\" points=\"{}\"/></svg>",
        h.weeks.last().map_or(0, |w| w.cumulative),
        points.join(" ")
    )
}
