//! A login's repositories as CSV or JSON: the ones it owns or its own
//! `/user/repos` listed, public ones for anyone, private ones only for the
//! session of a user who may see them.
//!
//! Both are streamed from pages of [`PAGE_ROWS`] rows read by id, so memory
//! stays flat however many rows there are. The ETag comes from the rows'
//! count and newest change (and who may see what), read before the body.
//!
//! CSV: RFC 4180 (quoted where needed, CRLF), UTF-8, a header row, the
//! columns of [`COLUMNS`] in that order. A text cell beginning with `=`,
//! `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`:
//! descriptions are written by strangers, and a spreadsheet would run them
//! as formulas.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hubpulse_domain::Login;
use hubpulse_store::Store;
use hubpulse_store::user_repos::{self, ExportRow};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::session::MaybeUser;
use crate::state::AppState;

const PAGE_ROWS: i64 = 1000;

/// The CSV's columns, in order.
pub const COLUMNS: [&str; 20] = [
    "id",
    "full_name",
    "owner",
    "name",
    "private",
    "visibility",
    "description",
    "language",
    "stargazers_count",
    "forks_count",
    "open_issues_count",
    "fork",
    "archived",
    "default_branch",
    "license",
    "homepage",
    "html_url",
    "created_at",
    "updated_at",
    "pushed_at",
];

/// One repository of the JSON export: the CSV's columns, typed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExportRepo {
    id: i64,
    full_name: String,
    owner: String,
    name: String,
    private: bool,
    visibility: String,
    description: Option<String>,
    language: Option<String>,
    stargazers_count: i64,
    forks_count: i64,
    open_issues_count: i64,
    fork: bool,
    archived: bool,
    default_branch: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
    html_url: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    pushed_at: Option<DateTime<Utc>>,
}

impl From<ExportRow> for ExportRepo {
    fn from(r: ExportRow) -> Self {
        Self {
            id: r.id,
            full_name: r.full_name,
            owner: r.owner,
            name: r.name,
            private: r.private,
            visibility: r.visibility,
            description: r.description,
            language: r.language,
            stargazers_count: r.stargazers_count,
            forks_count: r.forks_count,
            open_issues_count: r.open_issues_count,
            fork: r.fork,
            archived: r.archived,
            default_branch: r.default_branch,
            license: r.license,
            homepage: r.homepage,
            html_url: r.html_url,
            created_at: r.created_at,
            updated_at: r.updated_at,
            pushed_at: r.pushed_at,
        }
    }
}

/// A cell a spreadsheet will not read as a formula.
pub fn neutralised(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn csv_record(r: &ExportRow) -> [String; 20] {
    let text = |s: &str| neutralised(s).into_owned();
    let opt = |s: &Option<String>| s.as_deref().map(text).unwrap_or_default();
    [
        r.id.to_string(),
        text(&r.full_name),
        text(&r.owner),
        text(&r.name),
        r.private.to_string(),
        text(&r.visibility),
        opt(&r.description),
        opt(&r.language),
        r.stargazers_count.to_string(),
        r.forks_count.to_string(),
        r.open_issues_count.to_string(),
        r.fork.to_string(),
        r.archived.to_string(),
        opt(&r.default_branch),
        opt(&r.license),
        opt(&r.homepage),
        text(&r.html_url),
        time(&r.created_at),
        time(&r.updated_at),
        r.pushed_at.as_ref().map(time).unwrap_or_default(),
    ]
}

fn csv_bytes(header: bool, rows: &[ExportRow]) -> Result<Bytes, std::io::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(rows.len() * 256));
    if header {
        writer.write_record(COLUMNS)?;
    }
    for row in rows {
        writer.write_record(csv_record(row))?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A page of the JSON array: `[` before the first row, `]` after the last.
fn json_bytes(first: bool, last: bool, rows: Vec<ExportRow>) -> Result<Bytes, std::io::Error> {
    let mut out = Vec::with_capacity(rows.len() * 400 + 2);
    if first {
        out.push(b'[');
    }
    for (i, row) in rows.into_iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &ExportRepo::from(row)).map_err(std::io::Error::other)?;
    }
    if last {
        out.push(b']');
    }
    Ok(Bytes::from(out))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// The rows, page by page, as body chunks.
fn body(store: Store, login: String, viewer: Option<i64>, format: Format) -> Body {
    struct Cursor {
        store: Store,
        login: String,
        viewer: Option<i64>,
        after: i64,
        first: bool,
        done: bool,
    }
    let cursor = Cursor {
        store,
        login,
        viewer,
        after: 0,
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(cursor, move |mut c| async move {
        if c.done {
            return None;
        }
        let page = async {
            let conn = c.store.conn().await?;
            user_repos::export_page(&conn, &c.login, c.viewer, c.after, PAGE_ROWS).await
        };
        let rows = match page.await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "an export stopped part-way");
                c.done = true;
                return Some((
                    Err(std::io::Error::other("the export could not be read")),
                    c,
                ));
            }
        };
        let last = (rows.len() as i64) < PAGE_ROWS;
        c.after = rows.last().map_or(c.after, |r| r.id);
        let chunk = match format {
            Format::Csv => csv_bytes(c.first, &rows),
            Format::Json => json_bytes(c.first, last, rows),
        };
        c.first = false;
        c.done = last;
        Some((chunk, c))
    });
    // Fused: a compression layer asks once more after the end, which an
    // unfold answers with a panic.
    Body::from_stream(futures::StreamExt::fuse(stream))
}

async fn export(
    state: AppState,
    login: String,
    viewer: MaybeUser,
    headers: HeaderMap,
    format: Format,
) -> Result<Response, ApiError> {
    let login = Login::parse(&login)?;
    let viewer = viewer.0.map(|u| u.id);
    let (count, newest, private) = {
        let conn = state.store().conn().await?;
        user_repos::export_version(&conn, login.as_str(), viewer).await?
    };
    if count == 0 {
        return Err(ApiError::NotFound(format!(
            "no repository of {login} is stored here (or visible to you)"
        )));
    }
    let tag = Sha256::digest(format!(
        "v1|{}|{viewer:?}|{count}|{newest:?}|{private}|{}",
        login.as_str().to_lowercase(),
        format == Format::Csv
    ));
    let etag = format!("\"{}\"", hex::encode(&tag[..16]));
    // Private rows: this browser only; else any cache may keep it a minute.
    let cache = if private > 0 {
        "private, max-age=60"
    } else {
        "public, max-age=60"
    };
    let mut out = HeaderMap::new();
    out.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::VARY, HeaderValue::from_static("Cookie"));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8; header=present", "csv"),
        Format::Json => ("application/json", "json"),
    };
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-repositories.{extension}\"",
        login.as_str().replace(['[', ']'], "_")
    )) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    let body = body(
        state.store().clone(),
        login.as_str().to_owned(),
        viewer,
        format,
    );
    Ok((out, body).into_response())
}

/// A login's repositories as CSV (columns: id, full_name, owner, name,
/// private, visibility, description, language, stargazers_count,
/// forks_count, open_issues_count, fork, archived, default_branch, license,
/// homepage, html_url, created_at, updated_at, pushed_at), by id. Private
/// ones only for the session of a user who may see them.
#[utoipa::path(get, path = "/v1/users/{login}/repos.csv", tag = "auth",
    params(("login" = String, Path, description = "A GitHub login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header row, streamed", content_type = "text/csv", body = String),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, description = "Not a GitHub login", body = crate::error::ErrorBody),
        (status = 404, description = "HubPulse holds no repository of this login that the caller may see", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn csv(
    State(state): State<AppState>,
    Path(login): Path<String>,
    viewer: MaybeUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    export(state, login, viewer, headers, Format::Csv).await
}

/// The same rows as JSON, an array in the CSV's column order.
#[utoipa::path(get, path = "/v1/users/{login}/repos.json", tag = "auth",
    params(("login" = String, Path, description = "A GitHub login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")),
    responses(
        (status = 200, description = "The repositories, streamed", body = Vec<ExportRepo>),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 400, description = "Not a GitHub login", body = crate::error::ErrorBody),
        (status = 404, description = "HubPulse holds no repository of this login that the caller may see", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn json(
    State(state): State<AppState>,
    Path(login): Path<String>,
    viewer: MaybeUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    export(state, login, viewer, headers, Format::Json).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for risky in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(risky), format!("'{risky}"));
        }
        for safe in ["", "plain", "a=b", "1-2", "'quoted"] {
            assert_eq!(neutralised(safe), safe);
        }
    }

    #[test]
    fn json_pages_join_into_one_array() {
        assert_eq!(
            json_bytes(true, true, Vec::new()).unwrap(),
            Bytes::from_static(b"[]")
        );
        assert_eq!(
            json_bytes(false, true, Vec::new()).unwrap(),
            Bytes::from_static(b"]")
        );
    }
}
