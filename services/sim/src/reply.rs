//! The shared reply helper: every simulated GitHub route builds a `Reply`
//! and `send`s it, which gives it the forced replies of `/_sim/lists`,
//! `ETag` and `If-None-Match` (a 304 costs nothing), quota accounting on
//! the route's declared resource, `x-ratelimit-*` headers and `Link`
//! headers. Faults come from the layer around the route (`fault::faulted`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::areas::ALIAS;
use crate::controls::Forced;
use crate::state::{Resource, SimState, Window};

pub const DOCS: &str = "https://docs.github.com/rest";

/// The resource a route declared, put in the request by its fault layer.
#[derive(Debug, Clone, Copy)]
pub struct Declared(pub Resource);

/// Who spends the quota: the token (hashed, never kept), or nobody.
pub fn caller(headers: &HeaderMap) -> String {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) if !auth.trim().is_empty() => {
            let digest = Sha256::digest(auth.trim().as_bytes());
            format!("token-{}", &hex::encode(digest)[..12])
        }
        _ => "anonymous".into(),
    }
}

pub fn rate_headers(headers: &mut HeaderMap, window: Window, resource: Resource) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-ratelimit-limit", window.limit.to_string());
    set("x-ratelimit-remaining", window.remaining().to_string());
    set("x-ratelimit-used", window.used.to_string());
    set("x-ratelimit-reset", window.reset.to_string());
    set("x-ratelimit-resource", resource.as_str().to_owned());
}

/// GitHub's error body, with no quota spent and no rate-limit headers.
pub fn github_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message, "documentation_url": DOCS, "status": status.as_str() })),
    )
        .into_response()
}

/// One request to a GitHub route, as the reply helper needs it.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: String,
    pub resource: Resource,
    /// The path as asked, `/api/v3` included when it was.
    pub path: String,
    if_none_match: Option<String>,
}

impl Call {
    /// `/api/v3` when the request came under the alias, else empty.
    pub fn prefix(&self) -> &'static str {
        if self.path.starts_with(&format!("{ALIAS}/")) {
            ALIAS
        } else {
            ""
        }
    }

    /// An absolute URL to `path` under the request's alias.
    pub fn url(&self, state: &SimState, path: &str) -> String {
        format!("{}{}{path}", state.public_url, self.prefix())
    }
}

impl FromRequestParts<Arc<SimState>> for Call {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(Declared(resource)) = parts.extensions.get::<Declared>().copied() else {
            return Err(github_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the simulator's route declares no rate-limit resource",
            ));
        };
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |uri| uri.0.path())
            .to_owned();
        Ok(Call {
            caller: caller(&parts.headers),
            resource,
            path,
            if_none_match: parts
                .headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}

/// `per_page` (default 30, at most 100) and `page` (from 1); GitHub reads a
/// bad number as the default rather than failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub per_page: usize,
    pub page: usize,
}

impl Paging {
    pub fn new(per_page: Option<&str>, page: Option<&str>) -> Self {
        Paging {
            per_page: number(per_page, 30).min(100),
            page: number(page, 1),
        }
    }

    pub fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.per_page).max(1)
    }

    /// This page's share of `items` (empty past the end).
    pub fn window<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.page - 1).saturating_mul(self.per_page);
        let end = start.saturating_add(self.per_page).min(items.len());
        items.get(start..end).unwrap_or_default()
    }
}

pub fn number(raw: Option<&str>, default: usize) -> usize {
    raw.and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Everything but unreserved characters, so `:` `..` and spaces survive a round trip.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `Link` header of one page of a list.
#[derive(Debug, Clone)]
pub struct Links {
    /// Where the URLs point, without the alias: GitHub switches to id paths
    /// such as `/user/{id}/repos` here.
    pub path: String,
    /// URLs under the other alias than the request's (`/` ↔ `/api/v3`), so
    /// only a client that follows them as given gets through; else the
    /// request's alias.
    pub other_alias: bool,
    /// Parameters before `per_page` and `page`, in order, not yet encoded.
    pub query: Vec<(&'static str, String)>,
    pub paging: Paging,
    pub last_page: usize,
}

impl Links {
    fn header(&self, state: &SimState, call: &Call) -> Option<String> {
        let under_alias = (call.prefix() == ALIAS) != self.other_alias;
        let prefix = if under_alias { ALIAS } else { "" };
        let cycle = state.controls.cycle(&[&call.path, &self.path]);
        let next_instead = cycle.and_then(|c| {
            (self.paging.page == c.at_page.unwrap_or(self.last_page)).then_some(c.to_page)
        });
        link_header(
            &format!("{}{prefix}{}", state.public_url, self.path),
            &self.query,
            self.paging.per_page,
            self.paging.page,
            self.last_page,
            next_instead,
        )
    }
}

/// GitHub's `Link`: absolute URLs, no next/last on the last page, no
/// prev/first on the first; `next_instead` replaces (or adds) `next`. The
/// rel order changes from page to page, so only a parser that reads rels
/// gets through.
pub fn link_header(
    url_path: &str,
    query: &[(&str, String)],
    per_page: usize,
    page: usize,
    last_page: usize,
    next_instead: Option<usize>,
) -> Option<String> {
    let url = |page: usize| {
        let mut url = format!("{url_path}?");
        for (key, value) in query {
            url.push_str(&format!(
                "{key}={}&",
                utf8_percent_encode(value, QUERY_VALUE)
            ));
        }
        url.push_str(&format!("per_page={per_page}&page={page}"));
        url
    };
    let mut rels = Vec::new();
    let next = next_instead.or((page < last_page).then_some(page + 1));
    if let Some(next) = next {
        rels.push(format!("<{}>; rel=\"next\"", url(next)));
    }
    if page < last_page {
        rels.push(format!("<{}>; rel=\"last\"", url(last_page)));
    }
    if page > 1 {
        rels.push(format!(
            "<{}>; rel=\"prev\"",
            url((page - 1).min(last_page))
        ));
        rels.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    if rels.is_empty() {
        return None;
    }
    let turn = page % rels.len();
    rels.rotate_left(turn);
    Some(rels.join(", "))
}

/// What a route answers, before the helper adds what every reply gets.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Option<Vec<u8>>,
    links: Option<Box<Links>>,
    location: Option<String>,
}

impl Reply {
    /// 200 with `value` as JSON, an `ETag` and conditional requests.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::bytes(serde_json::to_vec(value).unwrap_or_default())
    }

    /// 200 with a JSON body already written.
    pub fn bytes(body: Vec<u8>) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            links: None,
            location: None,
        }
    }

    pub fn with_links(mut self, links: Links) -> Self {
        self.links = Some(Box::new(links));
        self
    }

    /// 202 `{}`: GitHub is still computing; ask again later.
    pub fn accepted() -> Self {
        Self::status_with(StatusCode::ACCEPTED, Some(b"{}".to_vec()))
    }

    /// 204: nothing here (an empty repository's statistics).
    pub fn no_content() -> Self {
        Self::status_with(StatusCode::NO_CONTENT, None)
    }

    /// 301 to `location` (absolute), GitHub's body for a moved repository.
    pub fn moved(location: String) -> Self {
        let body = json!({
            "message": "Moved Permanently",
            "url": location,
            "documentation_url": DOCS,
        });
        let mut reply = Self::status_with(
            StatusCode::MOVED_PERMANENTLY,
            Some(serde_json::to_vec(&body).unwrap_or_default()),
        );
        reply.location = Some(location);
        reply
    }

    /// An error that, like on GitHub, still costs one unit of quota.
    pub fn error(status: StatusCode, message: &str) -> Self {
        let body =
            json!({ "message": message, "documentation_url": DOCS, "status": status.as_str() });
        Self::status_with(status, Some(serde_json::to_vec(&body).unwrap_or_default()))
    }

    pub fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "Not Found")
    }

    fn status_with(status: StatusCode, body: Option<Vec<u8>>) -> Self {
        Reply {
            status,
            body,
            links: None,
            location: None,
        }
    }

    /// Forced replies first, then a 304 at no cost, then one unit of the
    /// declared resource (or a 403 when none is left).
    pub fn send(self, state: &SimState, call: &Call) -> Response {
        let link_path = self.links.as_ref().map(|l| l.path.as_str());
        let paths: Vec<&str> = std::iter::once(call.path.as_str())
            .chain(link_path)
            .collect();
        let reply = match state.controls.take(&paths) {
            Some(Forced::Accepted) => Reply::accepted(),
            Some(Forced::NoContent) => Reply::no_content(),
            None => self,
        };
        let mut out = HeaderMap::new();
        if reply.status == StatusCode::OK
            && let Some(body) = &reply.body
        {
            let etag = format!("W/\"{}\"", hex::encode(&Sha256::digest(body)[..16]));
            if let Some(value) = reply.links.as_ref().and_then(|l| l.header(state, call))
                && let Ok(value) = HeaderValue::from_str(&value)
            {
                out.insert(header::LINK, value);
            }
            if let Ok(value) = HeaderValue::from_str(&etag) {
                out.insert(header::ETAG, value);
            }
            out.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60, s-maxage=60"),
            );
            out.insert(
                header::VARY,
                HeaderValue::from_static("Accept, Authorization, Cookie, X-GitHub-OTP"),
            );
            let matches = call
                .if_none_match
                .as_deref()
                .is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
            if matches {
                rate_headers(
                    &mut out,
                    state.window(&call.caller, call.resource),
                    call.resource,
                );
                return (StatusCode::NOT_MODIFIED, out).into_response();
            }
        }
        match state.spend(&call.caller, call.resource) {
            Ok(window) => {
                rate_headers(&mut out, window, call.resource);
                if let Some(location) = reply.location.as_deref()
                    && let Ok(value) = HeaderValue::from_str(location)
                {
                    out.insert(header::LOCATION, value);
                }
                match reply.body {
                    Some(body) => {
                        out.insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json; charset=utf-8"),
                        );
                        (reply.status, out, body).into_response()
                    }
                    None => (reply.status, out).into_response(),
                }
            }
            Err(window) => {
                let mut response = github_error(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "API rate limit exceeded for {}. (But here's the good news: Authenticated requests get a higher rate limit.)",
                        call.caller
                    ),
                );
                rate_headers(response.headers_mut(), window, call.resource);
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rels_follow_the_page() {
        let q = |s: &str| vec![("q", s.to_owned())];
        let first = link_header(
            "http://h/api/v3/search/repositories",
            &q("topic:a b"),
            100,
            1,
            3,
            None,
        )
        .unwrap();
        assert!(first.contains("rel=\"next\"") && first.contains("rel=\"last\""));
        assert!(!first.contains("rel=\"prev\""));
        assert!(
            first.contains(
                "http://h/api/v3/search/repositories?q=topic%3Aa%20b&per_page=100&page=2"
            )
        );
        let last = link_header(
            "http://h/search/repositories",
            &q("topic:a"),
            100,
            3,
            3,
            None,
        )
        .unwrap();
        assert!(!last.contains("rel=\"next\"") && !last.contains("rel=\"last\""));
        assert!(last.contains(
            "<http://h/search/repositories?q=topic%3Aa&per_page=100&page=2>; rel=\"prev\""
        ));
        assert!(link_header("http://h/s", &q("topic:a"), 100, 1, 1, None).is_none());
        let middle_a = link_header("http://h/x", &[], 10, 2, 5, None).unwrap();
        let middle_b = link_header("http://h/x", &[], 10, 3, 5, None).unwrap();
        let first_rel = |s: &str| {
            s.split(", ")
                .next()
                .unwrap()
                .rsplit("rel=")
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(
            first_rel(&middle_a),
            first_rel(&middle_b),
            "rel order varies"
        );
        assert!(middle_a.contains("<http://h/x?per_page=10&page=3>; rel=\"next\""));
        // A cycle: the last page links back to the first.
        let cycled = link_header("http://h/x", &[], 10, 5, 5, Some(1)).unwrap();
        assert!(cycled.contains("<http://h/x?per_page=10&page=1>; rel=\"next\""));
        assert!(!cycled.contains("rel=\"last\""));
    }

    #[test]
    fn paging_reads_github_numbers() {
        let p = Paging::new(Some("500"), Some("x"));
        assert_eq!((p.per_page, p.page), (100, 1));
        let p = Paging::new(Some("2"), Some("3"));
        assert_eq!(p.window(&[1, 2, 3, 4, 5]), &[5]);
        assert!(Paging::new(Some("2"), Some("9")).window(&[1, 2]).is_empty());
        assert_eq!(p.last_page(0), 1);
        assert_eq!(p.last_page(5), 3);
    }
}
