use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hubpulse_cache::{Encoding, View};
use hubpulse_domain::{Topic, VIEW_SIZE, ViewKind};
use serde::Deserialize;

use crate::error::ApiError;
use crate::prefixes::Prefixes;
use crate::state::AppState;
use crate::views::ReadError;

// The routes' documentation below says 500 in literals (utoipa takes no
// constants there); this keeps them honest.
const _: () = assert!(
    VIEW_SIZE == 500,
    "update the view routes' documented limits"
);

// Documents `hubpulse_domain::ViewItem`, which the views are built from and
// served pre-serialized, so this type is never built; the OpenAPI tests check
// every served view against it.
/// One repository as the views serve it; every field is always present
/// (`null` when GitHub has no value).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ViewItem {
    id: i64,
    name: String,
    full_name: String,
    owner: String,
    html_url: String,
    #[schema(required = true)]
    description: Option<String>,
    #[schema(required = true)]
    homepage: Option<String>,
    #[schema(required = true)]
    language: Option<String>,
    #[schema(required = true)]
    license: Option<String>,
    stargazers_count: i64,
    forks_count: i64,
    open_issues_count: i64,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[schema(required = true)]
    pushed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewParams {
    /// How many repositories, 1 to 500 (default: all, up to 500).
    // Read as text and checked in the handler, so a bad value is this API's 400.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// A topic's repositories by full name.
#[utoipa::path(get, path = "/api/{topic}", tag = "topics",
    params(("topic" = String, Path, description = "A GitHub topic: lowercase letters, digits, hyphens", pattern = "^[a-z0-9][a-z0-9-]{0,49}$"), ViewParams),
    responses(
        (status = 200, description = "Up to 500 repositories, by full name, ties by id", body = Vec<ViewItem>),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Not a topic name, or a bad limit", body = crate::error::ErrorBody),
        (status = 404, description = "The topic is not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Neither Redis nor Postgres could answer", body = crate::error::ErrorBody),
    ))]
pub async fn by_name(
    state: State<AppState>,
    topic: Path<String>,
    params: Query<ViewParams>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, topic, params, request.headers(), ViewKind::ByName).await
}

/// A topic's repositories by stars, most first.
#[utoipa::path(get, path = "/api/popularity/{topic}", tag = "topics",
    params(("topic" = String, Path, description = "A GitHub topic", pattern = "^[a-z0-9][a-z0-9-]{0,49}$"), ViewParams),
    responses(
        (status = 200, description = "Up to 500 repositories, by stars descending, ties by id", body = Vec<ViewItem>),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Not a topic name, or a bad limit", body = crate::error::ErrorBody),
        (status = 404, description = "The topic is not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Neither Redis nor Postgres could answer", body = crate::error::ErrorBody),
    ))]
pub async fn popularity(
    state: State<AppState>,
    topic: Path<String>,
    params: Query<ViewParams>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(
        state,
        topic,
        params,
        request.headers(),
        ViewKind::Popularity,
    )
    .await
}

/// A topic's repositories by last push, most recent first.
#[utoipa::path(get, path = "/api/activity/{topic}", tag = "topics",
    params(("topic" = String, Path, description = "A GitHub topic", pattern = "^[a-z0-9][a-z0-9-]{0,49}$"), ViewParams),
    responses(
        (status = 200, description = "Up to 500 repositories, by pushed_at descending, ties by id", body = Vec<ViewItem>),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Not a topic name, or a bad limit", body = crate::error::ErrorBody),
        (status = 404, description = "The topic is not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Neither Redis nor Postgres could answer", body = crate::error::ErrorBody),
    ))]
pub async fn activity(
    state: State<AppState>,
    topic: Path<String>,
    params: Query<ViewParams>,
    request: Request,
) -> Result<Response, ApiError> {
    serve(state, topic, params, request.headers(), ViewKind::Activity).await
}

fn parse_limit(raw: Option<&str>) -> Result<Option<usize>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=VIEW_SIZE).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::BadRequest(format!(
            "limit must be a whole number from 1 to {VIEW_SIZE}"
        ))),
    }
}

async fn serve(
    State(state): State<AppState>,
    Path(raw_topic): Path<String>,
    Query(params): Query<ViewParams>,
    // Borrowed from the request: the handlers take the request itself rather
    // than a `HeaderMap`, which axum would clone.
    headers: &HeaderMap,
    kind: ViewKind,
) -> Result<Response, ApiError> {
    let topic = Topic::parse(&raw_topic)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let view = match state.views().get(&topic, kind).await {
        Ok(Some(view)) => view,
        Ok(None) => {
            return Err(ApiError::NotFound(format!(
                "topic {topic} is not tracked; track it with POST /v1/topics {{\"name\":\"{topic}\"}} (admin token)"
            )));
        }
        Err(ReadError::Unavailable(detail)) => {
            tracing::warn!(%detail, "view unavailable");
            return Err(ApiError::Unavailable(
                "the view cannot be read right now; try again shortly".into(),
            ));
        }
        Err(ReadError::Internal(detail)) => return Err(ApiError::Internal(detail)),
    };
    respond(&view, limit, headers, state.views().prefixes()).await
}

/// The best encoding the client accepts among those stored: one pass over
/// the header's bytes (a cached read does this every time).
fn negotiate(headers: &HeaderMap) -> Encoding {
    let Some(accept) = headers.get(header::ACCEPT_ENCODING) else {
        return Encoding::Identity;
    };
    let (mut brotli, mut gzip) = (false, false);
    for part in accept.as_bytes().split(|&b| b == b',') {
        let mut pieces = part.split(|&b| b == b';');
        let coding = pieces.next().unwrap_or_default().trim_ascii();
        let any = coding == b"*";
        let is_brotli = any || coding.eq_ignore_ascii_case(b"br");
        let is_gzip = any || coding.eq_ignore_ascii_case(b"gzip");
        if !(is_brotli || is_gzip) {
            continue;
        }
        let refused = pieces.any(|p| {
            p.trim_ascii()
                .strip_prefix(b"q=")
                .and_then(|q| std::str::from_utf8(q).ok())
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        if !refused {
            brotli |= is_brotli;
            gzip |= is_gzip;
        }
    }
    if brotli {
        Encoding::Brotli
    } else if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// The headers of a view answer but its ETag, with room for what is added
/// on the way out (ETag, replica, request id). Built per answer: a clone of
/// a prepared map copies its entries into a vector of their exact length,
/// which the next insert then grows (scripts/callgrind.sh: a third more
/// than inserting these few standard names, whose hash is their index).
fn view_headers(answer: Answer) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(8);
    map.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=5"),
    );
    map.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Answer::Body(encoding) = answer {
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(name) = encoding.header_value() {
            map.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
    }
    map
}

#[derive(Clone, Copy)]
enum Answer {
    NotModified,
    Body(Encoding),
}

async fn respond(
    view: &View,
    limit: Option<usize>,
    headers: &HeaderMap,
    prefixes: &Prefixes,
) -> Result<Response, ApiError> {
    let n = match limit {
        Some(n) if n < view.len() => n,
        _ => return Ok(whole_view(view, headers)),
    };
    // A prefix has an ETag of its own, derived from the whole view's.
    let inner = String::from_utf8_lossy(&view.etag);
    let etag = HeaderValue::from_str(&format!("{}-{n}\"", inner.trim_end_matches('"'))).ok();
    if not_modified(etag.as_ref(), headers) {
        return Ok(answer(Answer::NotModified, etag, Body::empty()));
    }
    let encoding = negotiate(headers);
    // Cut and encoded the first time a client asks for it and kept: the
    // next read of it costs what a full read does.
    let body = prefixes
        .get(view, n, encoding)
        .await
        .map_err(|e| ApiError::Internal(format!("a ?limit={n} answer: {e}")))?;
    Ok(answer(Answer::Body(encoding), etag, Body::from(body)))
}

/// The answer to a read of a whole view: 304 when If-None-Match names its
/// ETag, else its body in the best stored encoding the client accepts. The
/// handlers above and the cached-read lane (cached_reads.rs) both answer
/// with this, each in its own body type.
pub(crate) fn whole_view<B: From<Bytes> + Default>(
    view: &View,
    headers: &HeaderMap,
) -> Response<B> {
    // Shares the view's bytes rather than copying them.
    let etag = HeaderValue::from_maybe_shared(view.etag.clone()).ok();
    if not_modified(etag.as_ref(), headers) {
        return answer(Answer::NotModified, etag, B::default());
    }
    let encoding = negotiate(headers);
    answer(Answer::Body(encoding), etag, B::from(view.body(encoding)))
}

fn not_modified(etag: Option<&HeaderValue>, headers: &HeaderMap) -> bool {
    let Some(etag) = etag else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| {
            inm.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        })
}

fn answer<B>(answer: Answer, etag: Option<HeaderValue>, body: B) -> Response<B> {
    let mut response = Response::new(body);
    *response.headers_mut() = view_headers(answer);
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if let Answer::NotModified = answer {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    // With content-encoding set, the compression layer leaves the body as it is.
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn picks_the_best_accepted_encoding() {
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(negotiate(&accept("gzip, deflate, br")), Encoding::Brotli);
        assert_eq!(negotiate(&accept("gzip")), Encoding::Gzip);
        assert_eq!(negotiate(&accept("br;q=0, gzip;q=0.5")), Encoding::Gzip);
        assert_eq!(negotiate(&accept("identity")), Encoding::Identity);
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(parse_limit(None).unwrap(), None);
        assert_eq!(parse_limit(Some("500")).unwrap(), Some(500));
        for bad in ["0", "501", "-1", "ten", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
