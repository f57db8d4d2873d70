#![doc = include_str!("../README.md")]

mod error;
mod gists;
mod graph;
mod metrics;
mod orgs;
mod tasks;
mod types;
mod views;

use std::time::Duration;

use bytes::Bytes;
use hubpulse_domain::Topic;
use hubpulse_runtime::backoff::{Backoff, Retryable};
use reqwest::header::{self, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::json;

pub use error::ClientError;
pub use gists::{
    GistFile, GistJob, GistJobs, GistOutbox, LatestGists, ParkedFile, TrackedUser,
    TrackedUserChange, TrackedUserList,
};
pub use graph::{
    Developer, Forecast, ListPage, QueuedTask, RateBucket, RateLimit, RatePause, RelatedPage,
    Repository, StarHistory, StarWeek, StarredRepository, TaskKind, TaskList,
};
pub use hubpulse_domain::ViewKind;
pub use metrics::{Metrics, Sample};
pub use orgs::{MonthItem, MonthQuery, NewContributors, OwnerChange, QueuedSync, TrackedOwner};
pub use reqwest::{Method, StatusCode};
pub use types::{
    Checks, Health, QueuedJob, QueuedJobs, Readiness, Task, TaskStatus, TaskWatch, TopicChange,
    TrackedTopic,
};
pub use views::{ViewQuery, ViewReply};

/// How a client is made; [`ApiClient::new`] takes the defaults.
#[derive(Debug)]
pub struct ApiClientBuilder {
    base_url: String,
    admin_token: Option<SecretString>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    fresh_connections: bool,
}

impl ApiClientBuilder {
    /// The bearer token of the admin and maintenance routes. Empty means none.
    pub fn admin_token(mut self, token: SecretString) -> Self {
        self.admin_token = (!token.expose_secret().is_empty()).then_some(token);
        self
    }

    /// The whole request, answer included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// A connection per request, for callers that break connections on
    /// purpose (a pooled reuse of one the server closed would fail).
    pub fn fresh_connections(mut self) -> Self {
        self.fresh_connections = true;
        self
    }

    pub fn build(self) -> Result<ApiClient, ClientError> {
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .no_proxy()
            // Bodies come back as the API sent them, whichever reqwest
            // features another crate of the build turned on.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd();
        if self.fresh_connections {
            http = http.pool_max_idle_per_host(0);
        }
        Ok(ApiClient {
            http: http
                .build()
                .map_err(|e| ClientError::Build(error::describe(&e)))?,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            admin_token: self.admin_token,
        })
    }
}

/// The HubPulse API at one base URL (nginx, or one replica).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    admin_token: Option<SecretString>,
}

/// A reply of any status, for calls whose shape the caller decides.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl ApiClient {
    pub fn builder(base_url: impl Into<String>) -> ApiClientBuilder {
        ApiClientBuilder {
            base_url: base_url.into(),
            admin_token: None,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(2),
            user_agent: "hubpulse-client".into(),
            fresh_connections: false,
        }
    }

    /// The defaults: 15 s a request, 2 s to connect, no admin token.
    pub fn new(base_url: impl Into<String>) -> Result<ApiClient, ClientError> {
        Self::builder(base_url).build()
    }

    /// The same client with `token` for admin calls.
    pub fn with_admin_token(mut self, token: SecretString) -> ApiClient {
        self.admin_token = (!token.expose_secret().is_empty()).then_some(token);
        self
    }

    pub fn has_admin_token(&self) -> bool {
        self.admin_token.is_some()
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The underlying HTTP client, for requests no method here makes
    /// (malformed ones, raw headers).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `method path` (with the admin token when `admin`), answering
    /// whatever status came back.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        admin: bool,
        body: Option<&serde_json::Value>,
    ) -> Result<RawReply, ClientError> {
        let call = || format!("{method} {path}");
        let mut request = self.http.request(method.clone(), self.url(path));
        if admin {
            let token = self
                .admin_token
                .as_ref()
                .ok_or_else(|| ClientError::NoAdminToken { call: call() })?;
            // reqwest marks the header sensitive: it never shows in a Debug.
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.finish(request, call).await
    }

    async fn finish(
        &self,
        request: reqwest::RequestBuilder,
        call: impl Fn() -> String,
    ) -> Result<RawReply, ClientError> {
        let reply = request.send().await.map_err(|e| ClientError::Transport {
            call: call(),
            reason: error::describe(&e),
        })?;
        let status = reply.status();
        let headers = reply.headers().clone();
        let body = reply.bytes().await.map_err(|e| ClientError::Transport {
            call: call(),
            reason: error::describe(&e),
        })?;
        Ok(RawReply {
            status,
            headers,
            body,
        })
    }

    /// [`ApiClient::send`], where only a 2xx is an answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        admin: bool,
        body: Option<&serde_json::Value>,
    ) -> Result<RawReply, ClientError> {
        let reply = self.send(method.clone(), path, admin, body).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(status_error(format!("{method} {path}"), &reply))
        }
    }

    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        admin: bool,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let reply = self.call(method.clone(), path, admin, body).await?;
        decode(&format!("{method} {path}"), &reply)
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call_json(Method::GET, "/health", false, None).await
    }

    /// `GET /ready`: a 200 or a 503 is an answer, naming each dependency.
    pub async fn ready(&self) -> Result<Readiness, ClientError> {
        let reply = self.send(Method::GET, "/ready", false, None).await?;
        if reply.status != StatusCode::OK && reply.status != StatusCode::SERVICE_UNAVAILABLE {
            return Err(status_error("GET /ready".into(), &reply));
        }
        #[derive(serde::Deserialize)]
        struct Body {
            // Only a caller on the replica's host or with the admin token
            // gets them; others see empty checks.
            #[serde(default)]
            checks: Checks,
        }
        let body: Body = decode("GET /ready", &reply)?;
        Ok(Readiness {
            status: reply.status,
            checks: body.checks,
        })
    }

    /// Polls `/ready` until it answers 200, for at most `within`.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), ClientError> {
        let attempt = || async {
            match self.ready().await {
                Ok(ready) if ready.is_ready() => Ok(()),
                Ok(ready) => Err(format!("{} {:?}", ready.status, ready.checks)),
                Err(err) => Err(err.to_string()),
            }
        };
        attempt
            .retry(Backoff::POLL.within(within))
            .await
            .map_err(|last| ClientError::Timeout {
                call: "GET /ready".into(),
                within,
                last,
            })
    }

    pub async fn metrics(&self) -> Result<Metrics, ClientError> {
        let reply = self.call(Method::GET, "/metrics", false, None).await?;
        Ok(Metrics { text: reply.text() })
    }

    /// `POST /bootstrap_db`: migrations, then a crawl of every tracked topic.
    pub async fn bootstrap_db(&self) -> Result<QueuedJobs, ClientError> {
        self.call_json(Method::POST, "/bootstrap_db", true, None)
            .await
    }

    /// `POST /update_cache`: a refresh of every tracked topic.
    pub async fn update_cache(&self) -> Result<QueuedJobs, ClientError> {
        self.call_json(Method::POST, "/update_cache", true, None)
            .await
    }

    /// `GET /v1/topics`.
    pub async fn topics(&self) -> Result<Vec<TrackedTopic>, ClientError> {
        let list: types::TopicList = self
            .call_json(Method::GET, "/v1/topics", false, None)
            .await?;
        Ok(list.topics)
    }

    /// `POST /v1/topics`: tracked from now on (already tracked is an answer too).
    pub async fn track(&self, topic: &Topic) -> Result<TopicChange, ClientError> {
        let body = json!({ "name": topic.as_str() });
        self.call_json(Method::POST, "/v1/topics", true, Some(&body))
            .await
    }

    /// `DELETE /v1/topics/{name}`; `None` when it was not tracked.
    pub async fn untrack(&self, topic: &Topic) -> Result<Option<TopicChange>, ClientError> {
        let path = format!("/v1/topics/{}", topic.as_str());
        match self.call_json(Method::DELETE, &path, true, None).await {
            Ok(change) => Ok(Some(change)),
            Err(err) if err.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// One of a topic's views: a 200 or a 304 is an answer.
    pub async fn view(
        &self,
        kind: ViewKind,
        topic: &str,
        query: &ViewQuery,
    ) -> Result<ViewReply, ClientError> {
        let mut path = format!("{}{topic}", kind.route_prefix());
        if let Some(limit) = query.limit {
            path.push_str(&format!("?limit={limit}"));
        }
        let mut request = self.http.get(self.url(&path));
        if let Some(etag) = &query.if_none_match {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(encodings) = &query.accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, encodings);
        }
        let call = || format!("GET {path}");
        let reply = self.finish(request, call).await?;
        if reply.status != StatusCode::OK && reply.status != StatusCode::NOT_MODIFIED {
            return Err(status_error(call(), &reply));
        }
        Ok(ViewReply {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}

fn status_error(call: String, reply: &RawReply) -> ClientError {
    let is_json = reply
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let code = is_json
        .then(|| reply.json::<types::ErrorBody>().ok())
        .flatten()
        .map(|b| b.error.code);
    let text = reply.text();
    ClientError::Status {
        call,
        status: reply.status,
        code,
        body: error::truncate(text.trim(), 300).to_owned(),
    }
}

fn decode<T: DeserializeOwned>(call: &str, reply: &RawReply) -> Result<T, ClientError> {
    reply.json().map_err(|e| ClientError::Decode {
        call: call.to_owned(),
        reason: format!(
            "{e}: {}",
            error::truncate(&String::from_utf8_lossy(&reply.body), 300)
        ),
    })
}
