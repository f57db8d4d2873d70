//! `GET /v1/tasks`: the job kinds one may queue with the shape of their
//! arguments, and the recent jobs (filtered by kind and status, a keyset
//! page at a time). `POST /v1/tasks`: queues any of those kinds (admin);
//! a live job with the same dedup key answers with its own id instead.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use hubpulse_jobs::kinds::{Discover, SyncDeveloper, SyncOrg, SyncRepository};
use hubpulse_jobs::{Job, enqueue};
use hubpulse_store::queue::{self, Enqueued, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keyset;
use super::tasks::JobRecord;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskKind {
    #[schema(example = "sync_developer")]
    kind: &'static str,
    /// What `args` takes, as JSON Schema.
    #[schema(value_type = Object)]
    args: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskList {
    kinds: Vec<TaskKind>,
    /// Newest first.
    jobs: Vec<JobRecord>,
    /// The next page's URL, `null` on the last page.
    #[schema(required = true)]
    next: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskParams {
    /// Only jobs of this kind.
    #[param(value_type = Option<String>, pattern = "^[a-z_]{1,40}$")]
    kind: Option<String>,
    /// Only jobs in this status.
    #[param(value_type = Option<String>, pattern = "^(queued|running|succeeded|failed|rescheduled)$")]
    status: Option<String>,
    /// 1 to 100 (default 30).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
    /// From a previous page's `next`.
    #[param(value_type = Option<String>, pattern = "^6[12]3a(3[0-9]){1,18}3a([0-9a-f]{2}){0,100}$")]
    cursor: Option<String>,
}

fn schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or(Value::Null)
}

/// The kinds `POST /v1/tasks` queues, with their arguments' schemas.
fn kinds() -> Vec<TaskKind> {
    vec![
        TaskKind {
            kind: SyncDeveloper::KIND,
            args: schema_of::<SyncDeveloper>(),
        },
        TaskKind {
            kind: SyncRepository::KIND,
            args: schema_of::<SyncRepository>(),
        },
        TaskKind {
            kind: Discover::KIND,
            args: schema_of::<Discover>(),
        },
        TaskKind {
            kind: SyncOrg::KIND,
            args: json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        },
    ]
}

fn status(raw: &str) -> Result<JobStatus, ApiError> {
    Ok(match raw {
        "queued" => JobStatus::Queued,
        "running" => JobStatus::Running,
        "succeeded" => JobStatus::Succeeded,
        "failed" => JobStatus::Failed,
        "rescheduled" => JobStatus::Rescheduled,
        _ => {
            return Err(ApiError::BadRequest(
                "status must be queued, running, succeeded, failed or rescheduled".into(),
            ));
        }
    })
}

/// Job kinds and recent jobs.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskParams),
    responses(
        (status = 200, description = "Kinds and a page of recent jobs", body = TaskList),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
    Query(params): Query<TaskParams>,
) -> Result<Json<TaskList>, ApiError> {
    if let Some(kind) = params.kind.as_deref()
        && !((1..=40).contains(&kind.len())
            && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(ApiError::BadRequest("kind must be a job kind".into()));
    }
    let status = params.status.as_deref().map(status).transpose()?;
    let per_page = keyset::per_page(params.per_page.as_deref())?;
    let before = params
        .cursor
        .as_deref()
        .map(keyset::decode)
        .transpose()?
        .map(|k| k.id);
    let rows = queue::recent(
        &state.store().conn().await?,
        params.kind.as_deref(),
        status,
        before,
        per_page + 1,
    )
    .await?;
    let more = rows.len() as i64 > per_page;
    let jobs: Vec<JobRecord> = rows
        .into_iter()
        .take(per_page as usize)
        .map(JobRecord::from)
        .collect();
    let last = jobs.last().map(JobRecord::id);
    Ok(Json(TaskList {
        kinds: kinds(),
        next: keyset::next_by_id(&uri, more, last),
        jobs,
    }))
}

/// The body as read: unknown fields are ignored, as in a query, and the
/// kind is read as optional, so malformed JSON is a 400 before a missing
/// kind is a 422. What it must be is [`TaskBody`].
#[derive(Deserialize)]
pub struct NewTask {
    #[serde(default)]
    kind: String,
    /// Required, an object: absent or `null` is refused by the kind.
    #[serde(default)]
    args: Value,
}

/// `{"kind", "args"}`: the arguments' shape depends on the kind.
#[allow(dead_code)] // documents the body; `NewTask` reads it
#[derive(utoipa::ToSchema)]
#[serde(tag = "kind", content = "args", rename_all = "snake_case")]
pub enum TaskBody {
    SyncDeveloper(SyncDeveloper),
    SyncRepository(SyncRepository),
    Discover(Discover),
    SyncOrg(SyncOrgArgs),
}

#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct SyncOrgArgs {
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")]
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueuedTask {
    id: i64,
    kind: String,
    /// False when a live job with the same dedup key was there already
    /// (`id` is that job's).
    new: bool,
}

fn args<J: Job>(mut args: Value) -> Result<J, ApiError> {
    integral_floats_as_integers(&mut args);
    serde_json::from_value(args)
        .map_err(|e| ApiError::Unprocessable(format!("args of {}: {e}", J::KIND)))
}

/// JSON Schema counts `5.0` as an integer, serde does not: a whole float in
/// the integer range becomes an integer before the arguments are parsed.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            // Only where a float is exact (|f| < 2^53): a float at the edge
            // of i64 stands for integers beyond it, which stay refused.
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9_007_199_254_740_992.0
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

async fn queue_job<J: Job>(state: &AppState, job: &J) -> Result<Enqueued, ApiError> {
    Ok(enqueue(&state.store().conn().await?, job).await?)
}

/// Queues a job of any listed kind.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = TaskBody,
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Queued, or the live job with the same key", body = QueuedTask),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not application/json", body = crate::error::ErrorBody),
        (status = 404, description = "sync_developer or sync_repository naming no one and nothing", body = crate::error::ErrorBody),
        (status = 422, description = "An unknown kind, or arguments of the wrong shape", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<QueuedTask>), ApiError> {
    // Read as any JSON first: malformed JSON (invalid UTF-8 in a field
    // no kind reads included) is the extractor's 400; then the shape.
    let body: NewTask = serde_json::from_value(body)
        .map_err(|e| ApiError::Unprocessable(format!("a task is {{\"kind\", \"args\"}}: {e}")))?;
    let enqueued = match body.kind.as_str() {
        SyncDeveloper::KIND => {
            let job: SyncDeveloper = args(body.args)?;
            if job.login.is_none() && job.id.is_none() {
                // Nobody to sync: no such developer was named.
                return Err(ApiError::NotFound("args name no login and no id".into()));
            }
            queue_job(&state, &job).await?
        }
        SyncRepository::KIND => {
            let job: SyncRepository = args(body.args)?;
            if job.full_name.is_none() && job.id.is_none() {
                // As for sync_developer: no such repository was named.
                return Err(ApiError::NotFound(
                    "args name no full_name and no id".into(),
                ));
            }
            if job.id.is_some_and(|id| id < 1) {
                return Err(ApiError::Unprocessable(
                    "args of sync_repository: id is a GitHub id, 1 or more".into(),
                ));
            }
            queue_job(&state, &job).await?
        }
        Discover::KIND => {
            let job: Discover = args(body.args)?;
            if job.batch.is_some_and(|b| !(1..=10_000).contains(&b)) {
                return Err(ApiError::Unprocessable("batch is 1 to 10,000".into()));
            }
            queue_job(&state, &job).await?
        }
        SyncOrg::KIND => queue_job(&state, &args::<SyncOrg>(body.args)?).await?,
        other => {
            return Err(ApiError::Unprocessable(format!(
                "kind {other:?} is not one of sync_developer, sync_repository, discover, sync_org"
            )));
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedTask {
            id: enqueued.id(),
            kind: body.kind,
            new: matches!(enqueued, Enqueued::New(_)),
        }),
    ))
}

/// Queues a discovery round (what cron calls hourly); one live at a time.
#[utoipa::path(post, path = "/v1/discover", tag = "tasks",
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Queued, or the live discovery", body = QueuedTask),
        (status = 401, description = "No or wrong admin token", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn discover(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<QueuedTask>), ApiError> {
    let enqueued = queue_job(&state, &Discover::default()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedTask {
            id: enqueued.id(),
            kind: Discover::KIND.into(),
            new: matches!(enqueued, Enqueued::New(_)),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::integral_floats_as_integers;
    use serde_json::json;

    #[test]
    fn whole_floats_become_integers_and_edge_floats_stay_floats() {
        let mut args = json!({"id": 5.0, "depth": -2147483648.0, "batch": [2.5, 3.0],
                              "huge": -9223372036854775809.0});
        integral_floats_as_integers(&mut args);
        assert_eq!(args["id"], json!(5));
        assert_eq!(args["depth"], json!(-2147483648_i64));
        assert_eq!(args["batch"], json!([2.5, 3]));
        assert!(args["huge"].is_f64(), "{}", args["huge"]);
    }
}
