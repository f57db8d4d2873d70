//! One call, end to end: budget, request, retries, one redirect, and what
//! the reply's status means for the operation.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http::StatusCode;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH, LOCATION,
};
use hubpulse_domain::wire::ErrorBody;
use serde::de::DeserializeOwned;
use url::Url;

use hubpulse_runtime::backoff::BackoffBuilder;

use crate::client::{Moved, Page, PostBody};
use crate::headers::{bounded, rate_limit, retry_after};
use crate::operations::{Host, Meaning, Operation};
use crate::{Credential, GithubClient, GithubError, link};

/// A reply body past this is refused: a page of 100 repositories is well
/// under 1 MiB, so this only stops a runaway or hostile server.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Longest GitHub message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// What one request came back with, body read in full.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    url: Url,
    body: Bytes,
}

/// Why one request got no reply.
enum Failure {
    Timeout,
    /// Dropped or refused connections, resets, bodies cut short: worth a retry.
    Transport(String),
    /// Not worth a retry: a body too large, a request that cannot be built.
    Fatal(GithubError),
}

impl GithubClient {
    #[tracing::instrument(
        name = "github.call",
        skip_all,
        fields(endpoint = operation.label(), credential = self.credential_id(credential))
    )]
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        operation: Operation,
        url: &Url,
        credential: &Credential,
        etag: Option<&str>,
        body: Option<PostBody<'_>>,
    ) -> Result<Page<T>, GithubError> {
        let origin = self.origin_of(operation).origin();
        if url.origin() != origin {
            return Err(GithubError::Url(format!(
                "{} is not on {}",
                url.origin().ascii_serialization(),
                origin.ascii_serialization()
            )));
        }
        let endpoint = operation.label();
        let spec = operation.spec();
        let who = self.credential_id(credential).to_owned();
        let if_none_match = etag.and_then(|etag| match HeaderValue::from_str(etag) {
            Ok(value) => Some(value),
            Err(_) => {
                // A stored ETag GitHub could not have sent: ask unconditionally.
                tracing::warn!("ignoring an ETag that is not a valid header value");
                None
            }
        });
        let mut backoff = if spec.idempotent {
            self.inner.retry
        } else {
            self.inner.retry.with_max_times(0)
        }
        .build();

        let mut target = url.clone();
        let mut moved_from: Option<Url> = None;
        let mut redirected = false;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let spent = match spec.resource.filter(|_| spec.costs_quota) {
                Some(resource) => Some(self.acquire(&who, resource).await?),
                None => None,
            };
            let started = Instant::now();
            let reply = self
                .send(operation, &target, credential, if_none_match.as_ref(), body)
                .await;
            let elapsed_ms = started.elapsed().as_millis();

            let reply = match reply {
                Ok(reply) => reply,
                Err(failure) => {
                    self.count(endpoint, "error");
                    if let Some(spent) = spent {
                        self.release_if_probe(&who, spent).await;
                    }
                    let (reason, err) = match failure {
                        Failure::Fatal(err) => return Err(err),
                        Failure::Timeout => ("timeout", GithubError::Timeout { attempts: attempt }),
                        Failure::Transport(message) => (
                            "transport",
                            GithubError::Transport {
                                message,
                                attempts: attempt,
                            },
                        ),
                    };
                    let Some(delay) = backoff.next() else {
                        return Err(err);
                    };
                    self.retry_after(endpoint, reason, attempt, elapsed_ms, delay)
                        .await;
                    continue;
                }
            };

            self.count(endpoint, reply.status.as_str());
            tracing::debug!(
                status = reply.status.as_u16(),
                attempt,
                elapsed_ms,
                "github reply"
            );
            let rate = self
                .record_rate(&reply.headers, spec.resource, &who, spent, reply.status)
                .await;

            match operation.meaning(reply.status) {
                Some(Meaning::NotModified) => {
                    return Ok(Page::NotModified {
                        rate,
                        attempts: attempt,
                    });
                }
                Some(Meaning::Body) if reply.status.is_success() => {
                    match decode::<T>(&reply.headers, &reply.body) {
                        Ok(body) => {
                            let moved = moved_from.take().map(|from| {
                                Box::new(Moved {
                                    from,
                                    to: reply.url.clone(),
                                    full_name: full_name(&reply.body),
                                })
                            });
                            return self.fresh(operation, reply, body, moved, rate, attempt);
                        }
                        Err((garbled, message)) => {
                            // Cut short or not JSON at all: a proxy or GitHub
                            // in trouble, which passes. A body of the wrong
                            // shape would not, so only those are retried.
                            if garbled && let Some(delay) = backoff.next() {
                                self.retry_after(endpoint, "garbled", attempt, elapsed_ms, delay)
                                    .await;
                                continue;
                            }
                            return Err(GithubError::Decode {
                                endpoint: endpoint.into(),
                                message,
                            });
                        }
                    }
                }
                Some(Meaning::Computing) if reply.status.is_success() => {
                    return Ok(Page::Computing {
                        retry_after: retry_after(&reply.headers, Utc::now()).map(|at| {
                            let resource = spec
                                .resource
                                .unwrap_or(hubpulse_domain::rate::Resource::Core);
                            bounded(
                                &self.inner.wait_bounds,
                                resource,
                                Utc::now(),
                                at,
                                "retry-after",
                            )
                        }),
                        rate,
                        attempts: attempt,
                    });
                }
                Some(Meaning::Empty) if reply.status.is_success() => {
                    return Ok(Page::Empty {
                        etag: etag_of(&reply.headers),
                        rate,
                        attempts: attempt,
                    });
                }
                Some(meaning @ (Meaning::Moved | Meaning::Redirected))
                    if reply.status.is_redirection() =>
                {
                    if redirected {
                        return Err(GithubError::Status {
                            status: reply.status.as_u16(),
                            message: "redirected a second time".into(),
                        });
                    }
                    let location = self.location(operation, &reply)?;
                    tracing::info!(to = %location.path(), status = reply.status.as_u16(), "following a redirect");
                    if meaning == Meaning::Moved {
                        moved_from = Some(target.clone());
                    }
                    redirected = true;
                    target = location;
                    continue;
                }
                _ => {}
            }

            if let Some(limit) = rate_limit(
                reply.status,
                &reply.headers,
                &reply.body,
                spec.resource
                    .unwrap_or(hubpulse_domain::rate::Resource::Core),
                &self.inner.wait_bounds,
                Utc::now(),
            ) {
                tracing::warn!(until = %limit.until, secondary = limit.secondary, "rate limited by GitHub");
                if spec.resource.is_some() {
                    // Whoever else spends this credential must wait too.
                    self.pause(&who, limit.resource, limit.until).await;
                }
                return Err(GithubError::RateLimited {
                    resource: limit.resource,
                    until: limit.until,
                    secondary: limit.secondary,
                });
            }
            if reply.status.is_server_error() {
                let err = GithubError::Server {
                    status: reply.status.as_u16(),
                    attempts: attempt,
                };
                let Some(delay) = backoff.next() else {
                    return Err(err);
                };
                self.retry_after(endpoint, "5xx", attempt, elapsed_ms, delay)
                    .await;
                continue;
            }
            let message = error_message(&reply.body);
            if reply.status == StatusCode::GONE && message.to_ascii_lowercase().contains("version")
            {
                return Err(GithubError::ApiVersionRetired {
                    version: self.inner.api_version.as_str(),
                });
            }
            return Err(GithubError::from_status(reply.status, message));
        }
    }

    fn fresh<T>(
        &self,
        operation: Operation,
        reply: Reply,
        body: T,
        moved: Option<Box<Moved>>,
        rate: Option<hubpulse_domain::rate::RateObservation>,
        attempts: u32,
    ) -> Result<Page<T>, GithubError> {
        let next = link::find_rel(&reply.headers, "next")
            .map_err(|e| GithubError::Decode {
                endpoint: operation.label().into(),
                message: e.to_string(),
            })?
            .map(|target| {
                // Relative targets are legal; resolve against who answered.
                let next = reply
                    .url
                    .join(&target)
                    .map_err(|_| GithubError::Url("the Link next target is not a URL".into()))?;
                if next.origin() != self.origin_of(operation).origin() {
                    return Err(GithubError::Url(
                        "the Link next target points away from GitHub".into(),
                    ));
                }
                if next == reply.url {
                    return Err(GithubError::LinkCycle {
                        endpoint: operation.label(),
                    });
                }
                Ok(next)
            })
            .transpose()?;
        Ok(Page::Fresh {
            body,
            etag: etag_of(&reply.headers),
            next,
            url: reply.url,
            moved,
            rate,
            attempts,
        })
    }

    /// Where a redirect points, if it stays on the operation's origin: a
    /// redirect anywhere else is refused, so a token never leaves GitHub.
    fn location(&self, operation: Operation, reply: &Reply) -> Result<Url, GithubError> {
        let location = reply
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|raw| reply.url.join(raw).ok())
            .ok_or_else(|| GithubError::Status {
                status: reply.status.as_u16(),
                message: "a redirect without a usable Location".into(),
            })?;
        if location.origin() != self.origin_of(operation).origin() {
            return Err(GithubError::Url(
                "a redirect to another origin was not followed".into(),
            ));
        }
        Ok(location)
    }

    async fn send(
        &self,
        operation: Operation,
        url: &Url,
        credential: &Credential,
        if_none_match: Option<&HeaderValue>,
        body: Option<PostBody<'_>>,
    ) -> Result<Reply, Failure> {
        let spec = operation.spec();
        let mut request = self
            .inner
            .http
            .request(spec.method.as_http(), url.clone())
            .header(ACCEPT, spec.media_type);
        if spec.host == Host::Api {
            request = request.header("x-github-api-version", self.inner.api_version.as_str());
            if let Some(auth) = credential.header(&self.inner.service) {
                request = request.header(AUTHORIZATION, auth.clone());
            }
        }
        if let Some(etag) = if_none_match {
            request = request.header(IF_NONE_MATCH, etag.clone());
        }
        match body {
            Some(PostBody::Form(pairs)) => {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form);
            }
            Some(PostBody::Json(value)) => {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(value.to_string());
            }
            None => {}
        }
        let mut response = request.send().await.map_err(failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Failure::Fatal(GithubError::Decode {
                    endpoint: operation.label().into(),
                    message: format!("reply body over {MAX_BODY_BYTES} bytes"),
                }));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            url,
            body: body.freeze(),
        })
    }

    async fn retry_after(
        &self,
        endpoint: &str,
        reason: &str,
        attempt: u32,
        elapsed_ms: u128,
        delay: std::time::Duration,
    ) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.retry(endpoint, reason);
        }
        tracing::warn!(
            reason,
            attempt,
            elapsed_ms,
            delay_ms = delay.as_millis(),
            "retrying a GitHub call"
        );
        tokio::time::sleep(delay).await;
    }

    pub(crate) fn count(&self, endpoint: &str, status: &str) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.call(endpoint, status);
        }
    }
}

/// The body by its `Content-Type`: GitHub's OAuth origin answers with a
/// form unless asked otherwise, and says so. `Err((retryable, message))`.
fn decode<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, (bool, String)> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        return serde_urlencoded::from_bytes(body).map_err(|e| (false, e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| (e.is_eof() || e.is_syntax(), e.to_string()))
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The new name of a moved repository, read from the body it answered with.
fn full_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        full_name: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.full_name
}

fn failure(err: reqwest::Error) -> Failure {
    if err.is_timeout() {
        return Failure::Timeout;
    }
    if err.is_builder() {
        return Failure::Fatal(GithubError::Config(format!(
            "building a request: {}",
            err.without_url()
        )));
    }
    Failure::Transport(chain(&err.without_url()))
}

/// An error and its causes on one line ("error sending request: connection
/// closed before message completed"). reqwest's errors hold no headers, so
/// no token can surface here; the URL is dropped before this is called.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// GitHub's `message`, or an OAuth error's `error` and `error_description`.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message)
        .or_else(|_| {
            serde_json::from_slice::<OAuthError>(body)
                .or_else(|_| serde_urlencoded::from_bytes::<OAuthError>(body))
                .map(|e| match e.error_description {
                    Some(description) => format!("{}: {description}", e.error),
                    None => e.error,
                })
        })
        .unwrap_or_else(|_| "no message".into());
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}
