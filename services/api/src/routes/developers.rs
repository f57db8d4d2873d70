//! Developers of the graph: the filtered, keyset-paged list, one developer
//! by login (a former login still finds it) or GitHub id, and its
//! followers, following and starred repositories.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use chrono::{DateTime, Utc};
use hubpulse_domain::Login;
use hubpulse_store::graph_lists::{
    self, DEVELOPER_COLUMNS, DeveloperRow, Filter, Order, REPOSITORY_COLUMNS, contains,
};
use serde::{Deserialize, Serialize};

use super::graph_repos::{Repository, StarredRepository};
use super::keyset::{self, COUNT_BOUND, Envelope, IdPage};
use crate::error::ApiError;
use crate::state::AppState;

/// A developer: the profile as last synced (`null` fields for one only
/// met in a list so far, `state: known`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Developer {
    id: i64,
    login: String,
    #[schema(example = "User")]
    kind: String,
    #[schema(required = true)]
    avatar_url: Option<String>,
    #[schema(required = true)]
    html_url: Option<String>,
    #[schema(required = true)]
    name: Option<String>,
    #[schema(required = true)]
    company: Option<String>,
    #[schema(required = true)]
    blog: Option<String>,
    #[schema(required = true)]
    location: Option<String>,
    #[schema(required = true)]
    bio: Option<String>,
    #[schema(required = true)]
    hireable: Option<bool>,
    #[schema(required = true)]
    public_repos: Option<i32>,
    #[schema(required = true)]
    followers: Option<i32>,
    #[schema(required = true)]
    following: Option<i32>,
    #[schema(required = true)]
    created_at: Option<DateTime<Utc>>,
    /// `known` (met in a list), `synced` or `gone` (suspended or deleted).
    #[schema(example = "synced")]
    state: String,
    /// Follow steps from the nearest seed.
    depth: i32,
    #[schema(required = true)]
    synced_at: Option<DateTime<Utc>>,
    /// Lists cut at the edge cap on the last sync.
    truncated: Vec<String>,
}

impl From<DeveloperRow> for Developer {
    fn from(d: DeveloperRow) -> Self {
        Self {
            id: d.id,
            login: d.login,
            kind: d.kind,
            avatar_url: d.avatar_url,
            html_url: d.html_url,
            name: d.name,
            company: d.company,
            blog: d.blog,
            location: d.location,
            bio: d.bio,
            hireable: d.hireable,
            public_repos: d.public_repos,
            followers: d.followers,
            following: d.following,
            created_at: d.created_at,
            state: d.state,
            depth: d.depth,
            synced_at: d.synced_at,
            truncated: d.truncated,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeveloperParams {
    /// `followers` (default), `created`, `login` or `repos`.
    #[param(value_type = Option<String>, pattern = "^(followers|created|login|repos)$")]
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
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000000)]
    followers_min: Option<String>,
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000000)]
    followers_max: Option<String>,
    /// Location contains (case-insensitive).
    #[param(value_type = Option<String>, min_length = 1, max_length = 100)]
    location: Option<String>,
    /// Login, name or bio contains (case-insensitive).
    #[param(value_type = Option<String>, min_length = 1, max_length = 100)]
    q: Option<String>,
    /// Whether a location is set.
    #[param(value_type = Option<bool>)]
    has_location: Option<String>,
    /// `known`, `synced` or `gone`.
    #[param(value_type = Option<String>, pattern = "^(known|synced|gone)$")]
    state: Option<String>,
}

fn order(sort: Option<&str>, direction: Option<&str>) -> Result<Order, ApiError> {
    let order = match sort.unwrap_or("followers") {
        "followers" => Order::FOLLOWERS,
        "created" => Order::DEV_CREATED,
        "login" => Order::LOGIN,
        "repos" => Order::PUBLIC_REPOS,
        _ => {
            return Err(ApiError::BadRequest(
                "sort must be followers, created, login or repos".into(),
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

fn filters(p: &DeveloperParams) -> Result<Vec<Filter>, ApiError> {
    let mut f = Vec::new();
    let max = 1_000_000_000;
    if let Some(n) = keyset::number("followers_min", p.followers_min.as_deref(), 0, max)? {
        f.push(Filter::with("COALESCE(followers, -1) >= $?::int", n as i32));
    }
    if let Some(n) = keyset::number("followers_max", p.followers_max.as_deref(), 0, max)? {
        f.push(Filter::with("COALESCE(followers, -1) <= $?::int", n as i32));
    }
    if let Some(text) = keyset::text("location", p.location.as_deref())? {
        f.push(Filter::with("location ILIKE $?", contains(&text)));
    }
    if let Some(text) = keyset::text("q", p.q.as_deref())? {
        f.push(Filter::with(
            "(login ILIKE $? OR name ILIKE $? OR bio ILIKE $?)",
            contains(&text),
        ));
    }
    match keyset::flag("has_location", p.has_location.as_deref())? {
        Some(true) => f.push(Filter::bare("location IS NOT NULL")),
        Some(false) => f.push(Filter::bare("location IS NULL")),
        None => {}
    }
    if let Some(state) = p.state.as_deref() {
        if !["known", "synced", "gone"].contains(&state) {
            return Err(ApiError::BadRequest(
                "state must be known, synced or gone".into(),
            ));
        }
        f.push(Filter::with("state = $?", state.to_owned()));
    }
    Ok(f)
}

/// Developers, filtered and sorted, a keyset page at a time.
#[utoipa::path(get, path = "/v1/developers", tag = "graph", params(DeveloperParams),
    responses(
        (status = 200, description = "A page of developers", body = Envelope<Developer>),
        (status = 400, description = "A bad parameter or cursor", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    Query(params): Query<DeveloperParams>,
) -> Result<Json<Envelope<Developer>>, ApiError> {
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
        &graph_lists::DEVELOPERS,
        &filters,
        order,
        from.as_ref(),
        per_page,
    )
    .await?;
    let count = graph_lists::count(&conn, "developers", &filters, COUNT_BOUND).await?;
    Ok(Json(keyset::envelope(
        &uri,
        page,
        from.as_ref(),
        count,
        Developer::from,
    )))
}

fn login(raw: &str) -> Result<Login, ApiError> {
    Ok(Login::parse(raw)?)
}

fn id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::BadRequest("id must be a positive whole number".into()))
}

async fn one(
    state: &AppState,
    login: Option<&str>,
    id: Option<i64>,
) -> Result<DeveloperRow, ApiError> {
    graph_lists::developer(&state.store().read_conn().await?, login, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such developer".into()))
}

/// One developer by login; a former login finds the renamed account.
#[utoipa::path(get, path = "/v1/developers/{login}", tag = "graph",
    params(("login" = String, Path, description = "A login, `dependabot[bot]` too", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\\[bot\\])?$")),
    responses(
        (status = 200, description = "The developer", body = Developer),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 404, description = "No such developer", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn by_login(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Developer>, ApiError> {
    let login = login(&raw)?;
    Ok(Json(one(&state, Some(login.as_str()), None).await?.into()))
}

/// One developer by GitHub id.
#[utoipa::path(get, path = "/v1/developers/by-id/{id}", tag = "graph",
    params(("id" = i64, Path, description = "GitHub account id", minimum = 1)),
    responses(
        (status = 200, description = "The developer", body = Developer),
        (status = 400, description = "Not an id", body = crate::error::ErrorBody),
        (status = 404, description = "No such developer", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn by_id(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Developer>, ApiError> {
    let id = id(&raw)?;
    Ok(Json(one(&state, None, Some(id)).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedParams {
    /// 1 to 100 (default 30).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
    /// From a previous page's `next`.
    #[param(value_type = Option<String>, pattern = "^6[12]3a(3[0-9]){1,18}3a([0-9a-f]{2}){0,100}$")]
    cursor: Option<String>,
}

impl RelatedParams {
    pub(super) fn per_page(&self) -> Option<&str> {
        self.per_page.as_deref()
    }

    pub(super) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

async fn related_developers(
    state: &AppState,
    uri: &Uri,
    raw: &str,
    params: &RelatedParams,
    sql: &str,
) -> Result<IdPage<Developer>, ApiError> {
    let login = login(raw)?;
    let per_page = keyset::per_page(params.per_page.as_deref())?;
    let after = keyset::after(params.cursor.as_deref())?;
    let dev = one(state, Some(login.as_str()), None).await?;
    let conn = state.store().read_conn().await?;
    let (ids, more) = graph_lists::related_ids(&conn, sql, dev.id, after, per_page).await?;
    let ids: Vec<i64> = ids.into_iter().map(|(id, _)| id).collect();
    let rows = graph_lists::rows_by_ids(
        &conn,
        "developers",
        DEVELOPER_COLUMNS,
        &ids,
        graph_lists::developer_row,
    )
    .await?;
    Ok(IdPage {
        next: keyset::next_by_id(uri, more, ids.last().copied()),
        results: rows.into_iter().map(Developer::from).collect(),
    })
}

/// Who follows a developer, by id, a page at a time.
#[utoipa::path(get, path = "/v1/developers/{login}/followers", tag = "graph",
    params(("login" = String, Path, description = "A login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\\[bot\\])?$"), RelatedParams),
    responses(
        (status = 200, description = "A page of followers", body = IdPage<Developer>),
        (status = 400, description = "Not a login, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such developer", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn followers(
    State(state): State<AppState>,
    uri: Uri,
    Path(raw): Path<String>,
    Query(params): Query<RelatedParams>,
) -> Result<Json<IdPage<Developer>>, ApiError> {
    Ok(Json(
        related_developers(&state, &uri, &raw, &params, graph_lists::FOLLOWERS_OF).await?,
    ))
}

/// Whom a developer follows, by id, a page at a time.
#[utoipa::path(get, path = "/v1/developers/{login}/following", tag = "graph",
    params(("login" = String, Path, description = "A login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\\[bot\\])?$"), RelatedParams),
    responses(
        (status = 200, description = "A page of followed developers", body = IdPage<Developer>),
        (status = 400, description = "Not a login, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such developer", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn following(
    State(state): State<AppState>,
    uri: Uri,
    Path(raw): Path<String>,
    Query(params): Query<RelatedParams>,
) -> Result<Json<IdPage<Developer>>, ApiError> {
    Ok(Json(
        related_developers(&state, &uri, &raw, &params, graph_lists::FOLLOWING_OF).await?,
    ))
}

/// What a developer starred, with `starred_at`, a page at a time.
#[utoipa::path(get, path = "/v1/developers/{login}/starred", tag = "graph",
    params(("login" = String, Path, description = "A login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\\[bot\\])?$"), RelatedParams),
    responses(
        (status = 200, description = "A page of starred repositories", body = IdPage<StarredRepository>),
        (status = 400, description = "Not a login, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such developer", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn starred(
    State(state): State<AppState>,
    uri: Uri,
    Path(raw): Path<String>,
    Query(params): Query<RelatedParams>,
) -> Result<Json<IdPage<StarredRepository>>, ApiError> {
    let login = login(&raw)?;
    let per_page = keyset::per_page(params.per_page.as_deref())?;
    let after = keyset::after(params.cursor.as_deref())?;
    let dev = one(&state, Some(login.as_str()), None).await?;
    let conn = state.store().read_conn().await?;
    let (stars, more) =
        graph_lists::related_ids(&conn, graph_lists::STARRED_BY, dev.id, after, per_page).await?;
    let ids: Vec<i64> = stars.iter().map(|(id, _)| *id).collect();
    let rows = graph_lists::rows_by_ids(
        &conn,
        "repositories_view",
        REPOSITORY_COLUMNS,
        &ids,
        graph_lists::repository_row,
    )
    .await?;
    let starred_at: std::collections::HashMap<i64, Option<DateTime<Utc>>> =
        stars.into_iter().collect();
    Ok(Json(IdPage {
        next: keyset::next_by_id(&uri, more, ids.last().copied()),
        results: rows
            .into_iter()
            .map(|r| StarredRepository {
                starred_at: starred_at.get(&r.id).copied().flatten(),
                repository: Repository::from(r),
            })
            .collect(),
    }))
}
