//! The shared reply helper: every simulated GitHub route builds a `Reply`
//! and `send`s it, which gives it the forced replies of `/_sim/lists`,
//! `ETag` and `If-None-Match` (a 304 costs nothing), quota accounting on
//! the route's declared resource, `x-ratelimit-*` headers and `Link`
//! headers (`links`). Faults come from the layer around the route
//! (`fault::faulted`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::areas::ALIAS;
use crate::controls::Forced;
use crate::links::Links;
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
