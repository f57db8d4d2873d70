//! Tracked owners (organisations or users) and their first-time
//! contributors per repository and month.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use hubpulse_domain::Login;
use hubpulse_jobs::kinds::SyncOrg;
use hubpulse_jobs::{Job, enqueue};
use hubpulse_store::orgs::{self, MonthQuery, StatsState};
use hubpulse_store::{StoreError, queue::Enqueued};
use serde::{Deserialize, Serialize};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 500;

#[derive(Serialize, utoipa::ToSchema)]
pub struct OwnerList {
    owners: Vec<TrackedOwner>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackedOwner {
    /// Lower case.
    name: String,
    /// Repositories stored for it (after its first sync).
    repositories: i64,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    last_synced_at: Option<DateTime<Utc>>,
}

/// A tracked owner's login: no bots, compared case-insensitively.
pub(super) fn owner(raw: &str) -> Result<Login, ApiError> {
    let login = Login::parse(raw)?;
    if login.is_bot() {
        return Err(ApiError::BadRequest(
            "login: a bot owns no repositories to track".into(),
        ));
    }
    Ok(login)
}

/// Tracked organisations and users.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs",
    responses(
        (status = 200, description = "Tracked owners by name", body = OwnerList),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<OwnerList>, ApiError> {
    let owners = orgs::tracked(&state.store().read_conn().await?).await?;
    Ok(Json(OwnerList {
        owners: owners
            .into_iter()
            .map(|o| TrackedOwner {
                name: o.login,
                repositories: o.repositories,
                created_at: o.created_at,
                last_synced_at: o.last_synced_at,
            })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOwner {
    /// An organisation's or a user's login.
    #[schema(example = "hubpulse-org", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")]
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OwnerChange {
    name: String,
    tracked: bool,
    /// False when the call changed nothing (already tracked).
    changed: bool,
    /// The `sync_org` job (`GET /v1/tasks/{id}`), when one was queued.
    #[schema(required = true)]
    job_id: Option<i64>,
}

/// Tracks an organisation or user and queues a sync of its repositories and
/// their contributor statistics.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = NewOwner,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Now tracked; sync queued", body = OwnerChange),
        (status = 200, description = "Was tracked already; sync queued", body = OwnerChange),
        (status = 400, description = "Not a login, or not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn track(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewOwner>,
) -> Result<(StatusCode, Json<OwnerChange>), ApiError> {
    let login = owner(&body.name)?;
    let mut conn = state.store().conn().await?;
    let tx = conn.transaction().await.map_err(StoreError::from)?;
    let changed = orgs::track(&tx, login.as_str()).await?;
    let job = enqueue(
        &tx,
        &SyncOrg {
            name: login.clone(),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(OwnerChange {
            name: login.as_str().to_lowercase(),
            tracked: true,
            changed,
            job_id: Some(job.id()),
        }),
    ))
}

/// Stops tracking an owner; its stored rows stay.
#[utoipa::path(delete, path = "/v1/orgs/{name}", tag = "orgs",
    params(("name" = String, Path, description = "An organisation's or user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "No longer tracked", body = OwnerChange),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "The owner was not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn untrack(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<OwnerChange>, ApiError> {
    let login = owner(&name)?;
    if !orgs::untrack(&state.store().conn().await?, login.as_str()).await? {
        return Err(ApiError::NotFound(format!("{login} is not tracked")));
    }
    if let Err(err) = state.cache().delete_charts(login.as_str()).await {
        tracing::warn!(error = %err, "could not drop an untracked owner's charts; they expire by themselves");
    }
    Ok(Json(OwnerChange {
        name: login.as_str().to_lowercase(),
        tracked: false,
        changed: true,
        job_id: None,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedSyncs {
    jobs: Vec<QueuedSync>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedSync {
    id: i64,
    #[schema(example = "sync_org")]
    kind: &'static str,
    owner: String,
    /// False when a sync of the owner was already queued or running.
    new: bool,
}

/// Queues a sync of every tracked owner (what cron calls daily).
#[utoipa::path(post, path = "/v1/orgs/sync", tag = "orgs",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Syncs queued (or already queued)", body = QueuedSyncs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn sync_all(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedSyncs>), ApiError> {
    let conn = state.store().conn().await?;
    let mut jobs = Vec::new();
    for tracked in orgs::tracked(&conn).await? {
        let Ok(name) = Login::parse(&tracked.login) else {
            continue;
        };
        let enqueued = enqueue(&conn, &SyncOrg { name }).await?;
        jobs.push(QueuedSync {
            id: enqueued.id(),
            kind: SyncOrg::KIND,
            owner: tracked.login,
            new: matches!(enqueued, Enqueued::New(_)),
        });
    }
    Ok((StatusCode::ACCEPTED, Json(QueuedSyncs { jobs })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthParams {
    /// 1-based (default 1).
    // Read as text and checked here, so a bad value is this API's 400.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    page: Option<String>,
    /// Rows a page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    page_size: Option<String>,
    /// First month, `YYYY-MM` (inclusive).
    #[param(value_type = Option<String>, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    from: Option<String>,
    /// Last month, `YYYY-MM` (inclusive).
    #[param(value_type = Option<String>, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    to: Option<String>,
    /// Only this repository (its name, without the owner).
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9._-]{1,100}$")]
    repo: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewContributors {
    total_records: i64,
    page: i64,
    page_size: i64,
    /// By month, then repository.
    items: Vec<MonthItem>,
    /// Repositories whose statistics GitHub never finished computing
    /// (`owner/name`): their months may be missing or stale.
    unavailable: Vec<String>,
    /// Repositories still waiting for GitHub to compute their statistics.
    computing: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MonthItem {
    /// `owner/name`.
    #[schema(example = "hubpulse-org/repo-000")]
    repo_name: String,
    /// `YYYY-MM`.
    #[schema(example = "2026-03")]
    month: String,
    number_of_new_contributors: i32,
}

impl MonthParams {
    /// The repository filter, once [`checked_query`] accepted it.
    pub(super) fn repo(&self) -> Option<&str> {
        self.repo.as_deref()
    }
}

/// The parameters of [`MonthParams`], parsed.
pub(super) struct Checked {
    pub page: i64,
    pub page_size: i64,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Every parameter parsed or refused (400), the repository name included.
pub(super) fn checked_query(params: &MonthParams) -> Result<Checked, ApiError> {
    let page = number("page", params.page.as_deref(), 1, 1_000_000)?;
    let page_size = number(
        "page_size",
        params.page_size.as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let from = month("from", params.from.as_deref())?;
    let to = month("to", params.to.as_deref())?;
    if let Some(repo) = params.repo.as_deref() {
        let fits = (1..=100).contains(&repo.len())
            && repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !fits {
            return Err(ApiError::BadRequest(
                "repo must be a repository name".into(),
            ));
        }
    }
    Ok(Checked {
        page,
        page_size,
        from,
        to,
    })
}

fn number(key: &str, raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{key} must be a whole number from 1 to {max}"
        ))),
    }
}

fn month(key: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|raw| {
        let ok = raw.len() == 7 && raw.as_bytes()[4] == b'-';
        ok.then(|| NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| ApiError::BadRequest(format!("{key} must be a month, YYYY-MM")))
    })
    .transpose()
}

/// First-time contributors of a tracked owner's repositories per month: a
/// contributor counts once per repository, in the month of the first week
/// (its Sunday, UTC) with commits over the repository's whole history.
#[utoipa::path(get, path = "/v1/orgs/{name}/new-contributors", tag = "orgs",
    params(("name" = String, Path, description = "A tracked owner's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), MonthParams),
    responses(
        (status = 200, description = "A page of (repository, month) rows", body = NewContributors),
        (status = 400, description = "Not a login, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "The owner is not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn new_contributors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<MonthParams>,
) -> Result<Json<NewContributors>, ApiError> {
    let login = owner(&name)?;
    let Checked {
        page,
        page_size,
        from,
        to,
    } = checked_query(&params)?;
    let repo = params.repo();
    let conn = state.store().read_conn().await?;
    if !orgs::is_tracked(&conn, login.as_str()).await? {
        return Err(ApiError::NotFound(format!("{login} is not tracked")));
    }
    let (total_records, rows) = orgs::new_contributors(
        &conn,
        login.as_str(),
        &MonthQuery {
            from,
            to,
            repo,
            limit: page_size,
            offset: (page - 1) * page_size,
        },
    )
    .await?;
    let unavailable =
        orgs::repositories_in_state(&conn, login.as_str(), StatsState::Unavailable).await?;
    let computing =
        orgs::repositories_in_state(&conn, login.as_str(), StatsState::Computing).await?;
    Ok(Json(NewContributors {
        total_records,
        page,
        page_size,
        items: rows
            .into_iter()
            .map(|r| MonthItem {
                repo_name: r.repo_name,
                month: r.month.format("%Y-%m").to_string(),
                number_of_new_contributors: r.new_contributors,
            })
            .collect(),
        unavailable,
        computing,
    }))
}
