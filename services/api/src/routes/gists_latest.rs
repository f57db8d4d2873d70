//! What is new in a tracked user's gists: files first seen (by HubPulse's
//! own clock, per file) after a caller's cursor or `?since=`, named
//! subscribers' visits recorded atomically, the seed's
//! `POST /latestgists/{username}` as the default subscriber, and the
//! user's Pipedrive outbox with parked rows and their reasons.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hubpulse_domain::Login;
use hubpulse_store::gists::{self, SeenFile, TrackedUser};
use hubpulse_store::{StoreError, gist_outbox};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// The subscriber of the seed's `POST /latestgists/{username}`.
const DEFAULT_SUBSCRIBER: &str = "default";

#[derive(Serialize, utoipa::ToSchema)]
pub struct GistFile {
    gist_id: String,
    filename: String,
    html_url: String,
    #[schema(required = true)]
    language: Option<String>,
    /// When HubPulse first saw the file.
    first_seen_at: DateTime<Utc>,
    /// The file (or its gist) is no longer on GitHub.
    gone: bool,
    /// Its Pipedrive activity, once posted.
    #[schema(required = true)]
    activity_id: Option<i64>,
}

impl From<SeenFile> for GistFile {
    fn from(f: SeenFile) -> Self {
        GistFile {
            gist_id: f.gist_id,
            filename: f.filename,
            html_url: f.html_url,
            language: f.language,
            first_seen_at: f.first_seen_at,
            gone: f.gone,
            activity_id: f.activity_id,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LatestGists {
    login: String,
    files: Vec<GistFile>,
    /// Send back as `cursor` next time for what is new after these.
    next_cursor: String,
    /// More files are waiting past `limit`.
    more: bool,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatestParams {
    /// `next_cursor` of an earlier answer.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
    /// RFC 3339: files first seen after this (ignored with `cursor`).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn limit(raw: Option<i64>) -> Result<i64, ApiError> {
    let limit = raw.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest("limit: from 1 to 1000".into()));
    }
    Ok(limit)
}

async fn tracked(state: &AppState, raw: &str) -> Result<TrackedUser, ApiError> {
    let login = Login::parse(raw)?;
    gists::tracked_user(&state.store().conn().await?, login.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{login} is not tracked")))
}

fn answer(user: TrackedUser, files: Vec<SeenFile>, after: i64, limit: i64) -> LatestGists {
    let more = files.len() as i64 > limit;
    let files: Vec<SeenFile> = files.into_iter().take(limit as usize).collect();
    let next = files.last().map_or(after, |f| f.seq);
    LatestGists {
        login: user.login,
        files: files.into_iter().map(GistFile::from).collect(),
        next_cursor: next.to_string(),
        more,
    }
}

/// Gist files first seen after `cursor` (or `since`), oldest first.
#[utoipa::path(get, path = "/v1/tracked-users/{login}/gists/latest", tag = "gists",
    params(("login" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), LatestParams),
    responses(
        (status = 200, description = "Files new since the cursor", body = LatestGists),
        (status = 400, description = "A bad login, cursor, since or limit", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn latest(
    State(state): State<AppState>,
    Path(login): Path<String>,
    Query(params): Query<LatestParams>,
) -> Result<Json<LatestGists>, ApiError> {
    let limit = limit(params.limit)?;
    let after: i64 = match params.cursor.as_deref() {
        None => 0,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| *n >= 0 && raw.len() <= 18)
            .ok_or_else(|| {
                ApiError::BadRequest("cursor: a next_cursor from an earlier answer".into())
            })?,
    };
    let since = match (
        params.cursor.is_some(),
        params.since.as_deref().filter(|s| !s.is_empty()),
    ) {
        (false, Some(raw)) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    ApiError::BadRequest(
                        "since: an RFC 3339 time such as 2026-12-01T00:00:00Z".into(),
                    )
                })?
                .with_timezone(&Utc),
        ),
        _ => None,
    };
    let user = tracked(&state, &login).await?;
    let mut conn = state.store().conn().await?;
    let tx = conn.transaction().await.map_err(StoreError::from)?;
    let files = gists::files_after(&tx, user.github_id, after, since, limit + 1).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(answer(user, files, after, limit)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// Who is visiting: each subscriber has its own "last visit" (`name`
    /// is taken too).
    #[serde(alias = "name")]
    #[schema(example = "sales-team", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    subscriber: String,
}

fn subscriber(raw: &str) -> Result<&str, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(ApiError::BadRequest(
            "subscriber: 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    Ok(raw)
}

async fn visit_as(
    state: &AppState,
    user: TrackedUser,
    subscriber: &str,
) -> Result<LatestGists, ApiError> {
    let mut conn = state.store().conn().await?;
    let tx = conn.transaction().await.map_err(StoreError::from)?;
    let files = gists::visit(&tx, user.github_id, subscriber, MAX_LIMIT + 1).await?;
    // The cursor moved past at most MAX_LIMIT files; the rest come next visit.
    let files: Vec<SeenFile> = files.into_iter().collect();
    let more = files.len() as i64 > MAX_LIMIT;
    if more {
        let last = files[MAX_LIMIT as usize - 1].seq;
        tx.execute(
            "UPDATE gist_visits SET cursor_seq = $3 WHERE owner_id = $1 AND subscriber = $2",
            &[&user.github_id, &subscriber, &last],
        )
        .await
        .map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(answer(user, files, 0, MAX_LIMIT))
}

/// Records a subscriber's visit and returns the files first seen since its
/// previous one (all of them on a first visit); no body is the default
/// subscriber's visit. Atomic: two visits at once
/// split the new files between them, none twice, none missed.
#[utoipa::path(post, path = "/v1/tracked-users/{login}/gists/visits", tag = "gists",
    request_body(content = Visit, description = "The subscriber. A request with no body at all (no Content-Type) is the default subscriber's visit, as `POST /latestgists/{username}`."),
    params(("login" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    responses(
        (status = 200, description = "Files new since the subscriber's last visit", body = LatestGists),
        (status = 400, description = "A bad login or subscriber, or not JSON", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn visit(
    State(state): State<AppState>,
    Path(login): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    // The body first (as every JSON route answers it), then the user.
    let body = if request.headers().contains_key(header::CONTENT_TYPE) {
        match Json::<Visit>::from_request(request, &state).await {
            Ok(Json(body)) => Some(body),
            Err(rejection) => return Ok(rejection.into_response()),
        }
    } else {
        // No Content-Type: only an empty body is "no body".
        match Bytes::from_request(request, &state).await {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(_) => {
                return Ok((
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Expected request with `Content-Type: application/json`",
                )
                    .into_response());
            }
            Err(rejection) => return Ok(rejection.into_response()),
        }
    };
    let user = tracked(&state, &login).await?;
    let subscriber = match &body {
        Some(body) => subscriber(&body.subscriber)?,
        None => DEFAULT_SUBSCRIBER,
    };
    Ok(Json(visit_as(&state, user, subscriber).await?).into_response())
}

/// The seed's `POST /latestgists/{username}`: a visit by the default subscriber.
#[utoipa::path(post, path = "/latestgists/{username}", tag = "gists",
    params(("username" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    responses(
        (status = 200, description = "Files new since the default subscriber's last visit", body = LatestGists),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn seed_latest(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<LatestGists>, ApiError> {
    let user = tracked(&state, &username).await?;
    Ok(Json(visit_as(&state, user, DEFAULT_SUBSCRIBER).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Outbox {
    login: String,
    /// Gist files waiting to be posted.
    depth: i64,
    parked: i64,
    /// Seconds since the oldest waiting file was first seen.
    oldest_age_secs: f64,
    /// The most recent parked files, with why.
    parked_files: Vec<ParkedFile>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ParkedFile {
    gist_id: String,
    filename: String,
    reason: String,
}

/// The user's Pipedrive outbox: what waits, and what is parked and why.
#[utoipa::path(get, path = "/v1/tracked-users/{login}/outbox", tag = "gists",
    params(("login" = String, Path, description = "A tracked user's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    responses(
        (status = 200, description = "The user's outbox", body = Outbox),
        (status = 400, description = "Not a login", body = crate::error::ErrorBody),
        (status = 404, description = "Not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn outbox(
    State(state): State<AppState>,
    Path(login): Path<String>,
) -> Result<Json<Outbox>, ApiError> {
    let user = tracked(&state, &login).await?;
    let conn = state.store().conn().await?;
    let stats = gist_outbox::stats(&conn, Some(user.github_id)).await?;
    let parked = gist_outbox::parked(&conn, user.github_id, 50).await?;
    Ok(Json(Outbox {
        login: user.login,
        depth: stats.depth,
        parked: stats.parked,
        oldest_age_secs: stats.oldest_age_secs,
        parked_files: parked
            .into_iter()
            .map(|(gist_id, filename, reason)| ParkedFile {
                gist_id,
                filename,
                reason,
            })
            .collect(),
    }))
}
