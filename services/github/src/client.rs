use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use hubpulse_domain::rate::{Grant, LocalBudget, RateBudget, RateObservation, Resource};
use hubpulse_domain::wire::ErrorBody;
use hubpulse_domain::{Login, RepoFullName};
use rand::Rng;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use url::{Origin, Url};

use crate::encode::{endpoint, set_query};
use crate::headers::{rate_limit, rate_observation};
use crate::metrics::endpoint_template;
use crate::{GithubError, GithubMetrics, GithubSettings, SearchQuery, link};

/// The REST API version every request pins.
pub const API_VERSION: &str = "2022-11-28";

/// A reply body past this is refused: a search page of 100 repositories is
/// well under 1 MiB, so this only stops a runaway or hostile server.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Longest GitHub message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// One page of a GitHub list, or the news that the stored one still holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Page<T> {
    Fresh {
        body: T,
        /// To send back as `If-None-Match` next time.
        etag: Option<String>,
        /// The `Link` header's `rel="next"`, resolved, as GitHub wrote it.
        next: Option<Url>,
        /// The URL that answered, after redirects (a renamed or transferred
        /// repository answers from its new address).
        url: Url,
        rate: Option<RateObservation>,
        /// Requests made for this page, retries included.
        attempts: u32,
    },
    /// `304`: the page is unchanged since `etag`; it cost no quota.
    NotModified {
        rate: Option<RateObservation>,
        attempts: u32,
    },
}

impl<T> Page<T> {
    pub fn rate(&self) -> Option<&RateObservation> {
        match self {
            Self::Fresh { rate, .. } | Self::NotModified { rate, .. } => rate.as_ref(),
        }
    }

    pub fn attempts(&self) -> u32 {
        match self {
            Self::Fresh { attempts, .. } | Self::NotModified { attempts, .. } => *attempts,
        }
    }
}

/// The GitHub REST client. Cheap to clone; clones share connections, the
/// last-seen rate limits and the budget.
#[derive(Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `Bearer ...`, marked sensitive so `Debug` of a request never shows it.
    auth: Option<HeaderValue>,
    token_id: String,
    budget: Arc<dyn RateBudget>,
    /// Spent instead of `budget` while that cannot be asked; kept in step
    /// with every reply either way.
    fallback: LocalBudget,
    metrics: Option<GithubMetrics>,
    rates: Mutex<HashMap<Resource, RateObservation>>,
    max_retries: u32,
    retry_base: Duration,
    retry_max: Duration,
    budget_wait_max: Duration,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("base_url", &self.inner.base.as_str())
            .field("token_id", &self.inner.token_id)
            .field("authenticated", &self.inner.auth.is_some())
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

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
    /// Not worth a retry: a refused redirect, a body too large.
    Fatal(GithubError),
}

/// The short, stable id of a token, safe for Redis keys and logs: the first
/// 12 hex digits of its SHA-256, or `anonymous`.
pub fn token_id(token: Option<&str>) -> String {
    match token {
        Some(token) => hex::encode(&Sha256::digest(token.as_bytes())[..6]),
        None => "anonymous".into(),
    }
}

impl GithubClient {
    pub fn new(
        settings: &GithubSettings,
        budget: Arc<dyn RateBudget>,
        registry: Option<&prometheus::Registry>,
    ) -> Result<Self, GithubError> {
        settings
            .validate()
            .map_err(|(key, reason)| GithubError::Config(format!("{key}: {reason}")))?;
        let base = Url::parse(&settings.base_url)
            .map_err(|_| GithubError::Config("github.base_url is not a URL".into()))?;
        let token = settings.token();
        let auth = token
            .map(|token| {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        GithubError::Config(
                            "github.token holds characters a header cannot carry".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Ok::<_, GithubError>(value)
            })
            .transpose()?;

        let mut defaults = HeaderMap::new();
        defaults.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        defaults.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        let http = reqwest::Client::builder()
            .user_agent(settings.user_agent.trim())
            .default_headers(defaults)
            .timeout(settings.request_timeout())
            .connect_timeout(settings.connect_timeout())
            .redirect(same_origin_redirects(base.origin()))
            .build()
            .map_err(|e| GithubError::Config(format!("building the HTTP client: {e}")))?;

        let metrics = registry
            .map(GithubMetrics::register)
            .transpose()
            .map_err(|e| GithubError::Config(format!("registering metrics: {e}")))?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                token_id: token_id(token),
                budget,
                fallback: LocalBudget::new(settings.budget_policy()),
                metrics,
                rates: Mutex::default(),
                max_retries: settings.max_retries,
                retry_base: Duration::from_millis(settings.retry_base_ms),
                retry_max: Duration::from_millis(settings.retry_max_ms),
                budget_wait_max: Duration::from_millis(settings.budget_wait_max_ms),
            }),
        })
    }

    /// Which token this client spends, as the budget and logs know it.
    pub fn token_id(&self) -> &str {
        &self.inner.token_id
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The last rate-limit state GitHub reported per resource.
    pub fn rate_limits(&self) -> HashMap<Resource, RateObservation> {
        self.lock_rates().clone()
    }

    /// The first page of a repository search; later pages come from
    /// [`Page::Fresh::next`].
    pub fn search_repositories_url(&self, query: &SearchQuery) -> Url {
        let mut url = self.endpoint_url(&["search", "repositories"]);
        let pairs = query.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        set_query(&mut url, &pairs);
        url
    }

    /// `GET /repos/{owner}/{repo}`.
    pub fn repo_url(&self, repo: &RepoFullName) -> Url {
        self.endpoint_url(&["repos", repo.owner().as_str(), repo.name()])
    }

    /// `GET /users/{login}`.
    pub fn user_url(&self, login: &Login) -> Url {
        self.endpoint_url(&["users", login.as_str()])
    }

    /// `GET /repos/{owner}/{repo}/contributors`, 100 per page.
    pub fn contributors_url(&self, repo: &RepoFullName) -> Url {
        let mut url =
            self.endpoint_url(&["repos", repo.owner().as_str(), repo.name(), "contributors"]);
        set_query(&mut url, &[("per_page", "100")]);
        url
    }

    fn endpoint_url(&self, segments: &[&str]) -> Url {
        // Segments here come from parsed domain types and literals, which
        // are never empty, `.` or `..`; the base itself is the fallback only
        // to keep this infallible.
        endpoint(&self.inner.base, segments).unwrap_or_else(|_| self.inner.base.clone())
    }

    /// GETs one page: spends one unit of the shared budget per attempt,
    /// retries 5xx, timeouts and dropped connections with backoff, and
    /// returns rate limits as [`GithubError::RateLimited`] at once.
    #[tracing::instrument(
        name = "github.get_page",
        skip_all,
        fields(endpoint = %endpoint_template(url), resource = %resource)
    )]
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        url: &Url,
        resource: Resource,
        etag: Option<&str>,
    ) -> Result<Page<T>, GithubError> {
        if url.origin() != self.inner.base.origin() {
            return Err(GithubError::Url(format!(
                "{} is not on {}",
                url.origin().ascii_serialization(),
                self.inner.base.origin().ascii_serialization()
            )));
        }
        let endpoint = endpoint_template(url);
        let if_none_match = etag.and_then(|etag| match HeaderValue::from_str(etag) {
            Ok(value) => Some(value),
            Err(_) => {
                // A stored ETag GitHub could not have sent: ask unconditionally.
                tracing::warn!("ignoring an ETag that is not a valid header value");
                None
            }
        });

        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let window = self.acquire(resource).await?;
            let started = Instant::now();
            let reply = self.send(url, if_none_match.as_ref()).await;
            let elapsed_ms = started.elapsed().as_millis();

            let reply = match reply {
                Ok(reply) => reply,
                Err(failure) => {
                    self.count(&endpoint, "error");
                    if window.is_none() {
                        self.release_probe(resource).await;
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
                    if attempt > self.inner.max_retries {
                        return Err(err);
                    }
                    self.retry_after_backoff(&endpoint, reason, attempt, elapsed_ms)
                        .await;
                    continue;
                }
            };

            self.count(&endpoint, reply.status.as_str());
            tracing::debug!(
                status = reply.status.as_u16(),
                attempt,
                elapsed_ms,
                "github reply"
            );
            let rate = self
                .record_rate(&reply.headers, resource, window, reply.status)
                .await;
            if rate.is_none() && window.is_none() {
                self.release_probe(resource).await;
            }

            if reply.status == StatusCode::NOT_MODIFIED {
                return Ok(Page::NotModified {
                    rate,
                    attempts: attempt,
                });
            }
            if reply.status.is_success() {
                match serde_json::from_slice::<T>(&reply.body) {
                    Ok(body) => return self.fresh(reply, body, &endpoint, rate, attempt),
                    // Cut short or not JSON at all: a proxy or GitHub in
                    // trouble, which passes. A body of the wrong shape would
                    // not, so only those two are retried.
                    Err(err)
                        if (err.is_eof() || err.is_syntax())
                            && attempt <= self.inner.max_retries =>
                    {
                        self.retry_after_backoff(&endpoint, "garbled", attempt, elapsed_ms)
                            .await;
                        continue;
                    }
                    Err(err) => {
                        return Err(GithubError::Decode {
                            endpoint,
                            message: err.to_string(),
                        });
                    }
                }
            }
            if let Some(limit) = rate_limit(
                reply.status,
                &reply.headers,
                &reply.body,
                resource,
                Utc::now(),
            ) {
                tracing::warn!(
                    until = %limit.until,
                    secondary = limit.secondary,
                    "rate limited by GitHub"
                );
                // Whoever else spends this token must wait too.
                let inner = &self.inner;
                let _ = inner
                    .fallback
                    .pause(&inner.token_id, limit.resource, limit.until)
                    .await;
                if let Err(err) = inner
                    .budget
                    .pause(&inner.token_id, limit.resource, limit.until)
                    .await
                {
                    tracing::warn!(error = %err, "could not tell the shared budget to pause");
                }
                return Err(GithubError::RateLimited {
                    resource: limit.resource,
                    until: limit.until,
                    secondary: limit.secondary,
                });
            }
            if reply.status.is_server_error() {
                if attempt > self.inner.max_retries {
                    return Err(GithubError::Server {
                        status: reply.status.as_u16(),
                        attempts: attempt,
                    });
                }
                self.retry_after_backoff(&endpoint, "5xx", attempt, elapsed_ms)
                    .await;
                continue;
            }
            return Err(GithubError::from_status(
                reply.status,
                error_message(&reply.body),
            ));
        }
    }

    fn fresh<T>(
        &self,
        reply: Reply,
        body: T,
        endpoint: &str,
        rate: Option<RateObservation>,
        attempts: u32,
    ) -> Result<Page<T>, GithubError> {
        let decode = |message: String| GithubError::Decode {
            endpoint: endpoint.to_owned(),
            message,
        };
        let next = link::find_rel(&reply.headers, "next")
            .map_err(|e| decode(e.to_string()))?
            .map(|target| {
                // Relative targets are legal; resolve against who answered.
                let next = reply
                    .url
                    .join(&target)
                    .map_err(|_| GithubError::Url("the Link next target is not a URL".into()))?;
                if next.origin() != self.inner.base.origin() {
                    return Err(GithubError::Url(
                        "the Link next target points away from GitHub".into(),
                    ));
                }
                if next == reply.url {
                    return Err(decode("the Link next target is this same page".into()));
                }
                Ok(next)
            })
            .transpose()?;
        let etag = reply
            .headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Page::Fresh {
            body,
            etag,
            next,
            url: reply.url,
            rate,
            attempts,
        })
    }

    /// One unit of the budget, waiting out short denials. `Ok(window)` is
    /// the window the unit came from, for a refund.
    async fn acquire(&self, resource: Resource) -> Result<Option<DateTime<Utc>>, GithubError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.budget_wait_max;
        loop {
            let grant = match inner.budget.acquire(&inner.token_id, resource).await {
                Ok(grant) => grant,
                Err(err) => {
                    // Redis down must not stop the crawl, nor let this
                    // process spend blindly: the local budget has seen every
                    // reply this process had, reserve included.
                    tracing::warn!(error = %err, "shared rate budget unavailable; using this process's own");
                    inner
                        .fallback
                        .acquire(&inner.token_id, resource)
                        .await
                        .unwrap_or(Grant::Granted { window: None })
                }
            };
            let (until, poll) = match grant {
                Grant::Granted { window } => return Ok(window),
                Grant::Denied { until } => (until, None),
                // The probe's reply usually lands within one round trip.
                Grant::Probing { until } => (until, Some(Duration::from_millis(50))),
            };
            let wait = (until - Utc::now()).to_std().unwrap_or_default();
            let wait = poll.map_or(wait, |poll| wait.min(poll));
            if Instant::now() + wait > deadline {
                if let Some(metrics) = &inner.metrics {
                    metrics.denied(resource);
                }
                tracing::info!(%until, "shared rate budget spent");
                return Err(GithubError::BudgetExhausted { resource, until });
            }
            // Callers denied together must not all come back together.
            let jitter = Duration::from_millis(rand::rng().random_range(5..=50));
            tokio::time::sleep(wait + jitter).await;
        }
    }

    async fn send(&self, url: &Url, if_none_match: Option<&HeaderValue>) -> Result<Reply, Failure> {
        let mut request = self.inner.http.get(url.clone());
        if let Some(auth) = &self.inner.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(etag) = if_none_match {
            request = request.header(IF_NONE_MATCH, etag.clone());
        }
        let mut response = request.send().await.map_err(failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Failure::Fatal(GithubError::Decode {
                    endpoint: endpoint_template(&url),
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

    /// Keeps what the reply said about the quota, here and in the shared
    /// budget. A `304` costs nothing, so its unit goes back first.
    async fn record_rate(
        &self,
        headers: &HeaderMap,
        resource: Resource,
        window: Option<DateTime<Utc>>,
        status: StatusCode,
    ) -> Option<RateObservation> {
        let inner = &self.inner;
        if status == StatusCode::NOT_MODIFIED
            && let Some(window) = window
        {
            let _ = inner
                .fallback
                .refund(&inner.token_id, resource, window)
                .await;
            if let Err(err) = inner.budget.refund(&inner.token_id, resource, window).await {
                tracing::warn!(error = %err, "could not refund a 304 to the shared budget");
            }
        }
        let (observed_resource, seen) = rate_observation(headers, resource)?;
        {
            let mut rates = self.lock_rates();
            let keep = rates
                .get(&observed_resource)
                .is_none_or(|old| seen.supersedes(old));
            if keep {
                rates.insert(observed_resource, seen);
                if let Some(metrics) = &inner.metrics {
                    metrics.remaining(observed_resource, seen.remaining);
                }
            }
        }
        let _ = inner
            .fallback
            .observe(&inner.token_id, observed_resource, seen)
            .await;
        if let Err(err) = inner
            .budget
            .observe(&inner.token_id, observed_resource, seen)
            .await
        {
            tracing::warn!(error = %err, "could not update the shared budget");
        }
        Some(seen)
    }

    async fn release_probe(&self, resource: Resource) {
        let inner = &self.inner;
        let _ = inner
            .fallback
            .release_probe(&inner.token_id, resource)
            .await;
        if let Err(err) = inner.budget.release_probe(&inner.token_id, resource).await {
            tracing::warn!(error = %err, "could not release a probe of the shared budget");
        }
    }

    async fn retry_after_backoff(
        &self,
        endpoint: &str,
        reason: &str,
        attempt: u32,
        elapsed_ms: u128,
    ) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.retry(endpoint, reason);
        }
        let delay = backoff(
            attempt,
            self.inner.retry_base,
            self.inner.retry_max,
            &mut rand::rng(),
        );
        tracing::warn!(
            reason,
            attempt,
            elapsed_ms,
            delay_ms = delay.as_millis(),
            "retrying a GitHub call"
        );
        tokio::time::sleep(delay).await;
    }

    fn count(&self, endpoint: &str, status: &str) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.call(endpoint, status);
        }
    }

    fn lock_rates(&self) -> std::sync::MutexGuard<'_, HashMap<Resource, RateObservation>> {
        // Only whole observations are ever inserted, so a poisoned map is
        // still a consistent one.
        self.inner
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Exponential backoff with "equal jitter": at least half the step, so
/// retries never bunch at zero, at most the whole step.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let step = base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(max);
    let half = step / 2;
    let extra_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rng.random_range(0..=extra_ms))
}

fn failure(err: reqwest::Error) -> Failure {
    if err.is_timeout() {
        return Failure::Timeout;
    }
    if err.is_redirect() {
        return Failure::Fatal(GithubError::Url(
            "a redirect left GitHub's origin or went round in circles".into(),
        ));
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

fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message)
        .unwrap_or_else(|_| "no message".into());
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// GitHub redirects a renamed or transferred repository within its own
/// origin; a redirect anywhere else is refused rather than followed, so the
/// token never leaves GitHub.
fn same_origin_redirects(origin: Origin) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if attempt.url().origin() != origin {
            attempt.error("redirect to another origin")
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn token_ids_are_short_stable_and_not_the_token() {
        let id = token_id(Some("ghp_secret"));
        assert_eq!(id.len(), 12);
        assert_eq!(id, token_id(Some("ghp_secret")));
        assert_ne!(id, token_id(Some("ghp_other")));
        assert!(!id.contains("secret"));
        assert_eq!(token_id(None), "anonymous");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1_000);
        for attempt in 1..=10 {
            let step = (base * 2u32.pow((attempt - 1).min(20))).min(max);
            for _ in 0..50 {
                let d = backoff(attempt, base, max, &mut rng);
                assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
            }
        }
        let spread: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff(3, base, max, &mut rng)).collect();
        assert!(spread.len() > 1, "jitter varies the delay");
        assert!(backoff(u32::MAX, base, max, &mut rng) <= max);
    }
}
