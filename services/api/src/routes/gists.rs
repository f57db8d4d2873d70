//! Tracked GitHub users whose gists are scanned and posted to Pipedrive:
//! `/v1/tracked-users` (the GitHub id, looked up once, is the key), the
//! periodic scan and delivery sweep that cron calls, and the seed's
//! `GET /users` and `POST /users/{username}/{id}` kept as aliases.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hubpulse_domain::Login;
use hubpulse_domain::wire::OwnerPayload;
use hubpulse_github::{Credential, GithubError, Operation, Page};
use hubpulse_jobs::kinds::{DeliverOutbox, ScanGists};
use hubpulse_jobs::{Job, enqueue};
use hubpulse_store::{StoreError, gist_outbox, gists};
use serde::{Deserialize, Serialize};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 500;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackedUserList {
    users: Vec<TrackedUser>,
    /// Pass as `after` for the next page; null on the last.
    #[schema(required = true)]
    next_after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackedUser {
    login: String,
    github_id: i64,
    created_at: DateTime<Utc>,
    #[schema(required = true)]
    last_scan_at: Option<DateTime<Utc>>,
    /// The user's Pipedrive deal, once made.
    #[schema(required = true)]
    deal_id: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The last login of the previous page.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")]
    after: Option<String>,
    /// 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

async fn list_users(state: &AppState, params: &ListParams) -> Result<TrackedUserList, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::BadRequest("limit: from 1 to 500".into()));
    }
    let after = params.after.as_deref().map(Login::parse).transpose()?;
    let users = gists::tracked_users(
        &state.store().conn().await?,
        after.as_ref().map(Login::as_str),
        limit,
    )
    .await?;
    let next_after = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.login.clone()))
        .flatten();
    Ok(TrackedUserList {
        users: users
            .into_iter()
            .map(|u| TrackedUser {
                login: u.login,
                github_id: u.github_id,
                created_at: u.created_at,
                last_scan_at: u.last_scan_at,
                deal_id: u.deal_id,
            })
            .collect(),
        next_after,
    })
}

/// Tracked GitHub users, by login.
#[utoipa::path(get, path = "/v1/tracked-users", tag = "gists", params(ListParams),
    responses(
        (status = 200, description = "A page of tracked users", body = TrackedUserList),
        (status = 400, description = "A bad limit or login", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<TrackedUserList>, ApiError> {
    Ok(Json(list_users(&state, &params).await?))
}

/// The seed's `GET /users`: the same as `GET /v1/tracked-users`.
#[utoipa::path(get, path = "/users", tag = "gists", params(ListParams),
    responses(
        (status = 200, description = "A page of tracked users", body = TrackedUserList),
        (status = 400, description = "A bad limit or login", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn seed_list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<TrackedUserList>, ApiError> {
    Ok(Json(list_users(&state, &params).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrackedUser {
    /// A GitHub user's login (`name` is taken too, as the other tracking
    /// routes call it).
    #[serde(alias = "name")]
    #[schema(example = "octocat", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")]
    login: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrackedUserChange {
    login: String,
    github_id: i64,
    tracked: bool,
    /// False when the call changed nothing (already tracked).
    changed: bool,
    /// The first `scan_gists` job, when one was queued.
    #[schema(required = true)]
    job_id: Option<i64>,
}

/// A user's login as tracking takes it: no bots (they have no gists).
fn user_login(raw: &str) -> Result<Login, ApiError> {
    let login = Login::parse(raw)?;
    if login.is_bot() {
        return Err(ApiError::BadRequest(
            "login: a bot has no gists to track".into(),
        ));
    }
    Ok(login)
}

/// `GET /users/{login}` on GitHub: the account's id and current login.
async fn lookup(state: &AppState, login: &Login) -> Result<OwnerPayload, ApiError> {
    let github = state.github();
    let url = github
        .url(Operation::GetUser, &[login.as_str()], &[])
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match github
        .get::<OwnerPayload>(Operation::GetUser, &url, &Credential::Service, None)
        .await
    {
        Ok(Page::Fresh { body, .. }) => Ok(body),
        Ok(_) => Err(ApiError::Unavailable(
            "GitHub did not answer with the user; try again".into(),
        )),
        Err(GithubError::NotFound) => {
            Err(ApiError::NotFound(format!("GitHub has no user {login}")))
        }
        Err(err) => {
            tracing::warn!(error = %err, "looking up a user to track");
            Err(ApiError::Unavailable(
                "GitHub could not be asked; try again shortly".into(),
            ))
        }
    }
}

async fn track_user(
    state: &AppState,
    login: &Login,
    expected_id: Option<i64>,
) -> Result<(StatusCode, Json<TrackedUserChange>), ApiError> {
    let user = lookup(state, login).await?;
    if user.kind != hubpulse_domain::wire::OwnerKind::User {
        return Err(ApiError::Unprocessable(format!(
            "{login} is not a user account"
        )));
    }
    if let Some(id) = expected_id
        && id != user.id
    {
        return Err(ApiError::Conflict(format!(
            "GitHub says {login} has id {}, not {id}",
            user.id
        )));
    }
    let mut conn = state.store().conn().await?;
    let tx = conn.transaction().await.map_err(StoreError::from)?;
    let changed = gists::track_user(&tx, user.id, &user.login).await?;
    let window = state.settings().gists.window(Utc::now());
    let job = enqueue(
        &tx,
        &ScanGists {
            user_id: user.id,
            window,
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
        Json(TrackedUserChange {
            login: user.login,
            github_id: user.id,
            tracked: true,
            changed,
            job_id: Some(job.id()),
        }),
    ))
}

/// Tracks a GitHub user's gists (its id is looked up and is the key) and
/// queues a first scan.
#[utoipa::path(post, path = "/v1/tracked-users", tag = "gists", request_body = NewTrackedUser,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Now tracked; scan queued", body = TrackedUserChange),
        (status = 200, description = "Was tracked already", body = TrackedUserChange),
        (status = 400, description = "Not a login, or not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "GitHub has no such user", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 422, description = "JSON of the wrong shape, or not a user", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres or GitHub is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn track(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<NewTrackedUser>,
) -> Result<(StatusCode, Json<TrackedUserChange>), ApiError> {
    let login = user_login(&body.login)?;
    track_user(&state, &login, None).await
}

/// The seed's `POST /users/{username}/{id}`: tracks the user when GitHub
/// agrees on the id.
#[utoipa::path(post, path = "/users/{username}/{id}", tag = "gists",
    params(
        ("username" = String, Path, description = "A GitHub user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"),
        ("id" = i64, Path, description = "The user's GitHub id", minimum = 1),
    ),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Now tracked; scan queued", body = TrackedUserChange),
        (status = 200, description = "Was tracked already", body = TrackedUserChange),
        (status = 400, description = "Not a login or an id", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "GitHub has no such user", body = crate::error::ErrorBody),
        (status = 409, description = "GitHub gives the login another id", body = crate::error::ErrorBody),
        (status = 422, description = "Not a user account", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres or GitHub is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn seed_track(
    _: Admin,
    State(state): State<AppState>,
    Path((username, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<TrackedUserChange>), ApiError> {
    let login = user_login(&username)?;
    let id: i64 = id
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest("id: a positive GitHub id".into()))?;
    track_user(&state, &login, Some(id)).await
}

/// Stops tracking a user; its gists, files and deal stay.
#[utoipa::path(delete, path = "/v1/tracked-users/{login}", tag = "gists",
    params(("login" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "No longer tracked"),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn untrack(
    _: Admin,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    let login = Login::parse(&login)?;
    if !gists::untrack_user(&state.store().conn().await?, login.as_str()).await? {
        return Err(ApiError::NotFound(format!("{login} is not tracked")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedGistJobs {
    jobs: Vec<QueuedGistJob>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedGistJob {
    id: i64,
    #[schema(example = "scan_gists")]
    kind: &'static str,
    user_id: i64,
    /// False when the same job was already queued or running.
    new: bool,
}

/// Queues this window's gist scan of every tracked user (what cron calls
/// every 3 hours). A user already scanned in this window is skipped.
#[utoipa::path(post, path = "/v1/tracked-users/scan", tag = "gists",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Scans queued (or already queued)", body = QueuedGistJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn scan_all(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedGistJobs>), ApiError> {
    let conn = state.store().conn().await?;
    let window = state.settings().gists.window(Utc::now());
    let mut jobs = Vec::new();
    for user_id in gists::tracked_ids(&conn).await? {
        let enqueued = enqueue(&conn, &ScanGists { user_id, window }).await?;
        jobs.push(QueuedGistJob {
            id: enqueued.id(),
            kind: ScanGists::KIND,
            user_id,
            new: matches!(enqueued, hubpulse_store::queue::Enqueued::New(_)),
        });
    }
    Ok((StatusCode::ACCEPTED, Json(QueuedGistJobs { jobs })))
}

/// Queues a scan of one tracked user's gists now (a window of its own,
/// starting this second: the periodic scan still runs in the next one).
#[utoipa::path(post, path = "/v1/tracked-users/{login}/scan", tag = "gists",
    params(("login" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Scan queued (or already queued)", body = QueuedGistJobs),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn scan_one(
    _: Admin,
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<(StatusCode, Json<QueuedGistJobs>), ApiError> {
    let login = Login::parse(&login)?;
    let conn = state.store().conn().await?;
    let user = gists::tracked_user(&conn, login.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{login} is not tracked")))?;
    let job = ScanGists {
        user_id: user.github_id,
        window: Utc::now().timestamp(),
    };
    let enqueued = enqueue(&conn, &job).await?;
    let jobs = vec![QueuedGistJob {
        id: enqueued.id(),
        kind: ScanGists::KIND,
        user_id: user.github_id,
        new: matches!(enqueued, hubpulse_store::queue::Enqueued::New(_)),
    }];
    Ok((StatusCode::ACCEPTED, Json(QueuedGistJobs { jobs })))
}

/// Queues delivery for every user with gist files waiting for Pipedrive
/// (cron's sweep; scans queue their own).
#[utoipa::path(post, path = "/v1/tracked-users/deliver", tag = "gists",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Deliveries queued (or already queued)", body = QueuedGistJobs),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn deliver_all(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedGistJobs>), ApiError> {
    let conn = state.store().conn().await?;
    let mut jobs = Vec::new();
    for user_id in gist_outbox::owners_with_work(&conn).await? {
        let enqueued = enqueue(&conn, &DeliverOutbox { user_id }).await?;
        jobs.push(QueuedGistJob {
            id: enqueued.id(),
            kind: DeliverOutbox::KIND,
            user_id,
            new: matches!(enqueued, hubpulse_store::queue::Enqueued::New(_)),
        });
    }
    Ok((StatusCode::ACCEPTED, Json(QueuedGistJobs { jobs })))
}
