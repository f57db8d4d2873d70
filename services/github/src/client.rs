use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hubpulse_domain::rate::{LocalBudget, RateBudget, RateObservation, Resource};
use hubpulse_runtime::backoff::{Backoff, ExponentialBuilder};
use serde::de::DeserializeOwned;
use url::Url;

use crate::credential::ServiceToken;
use crate::operations::{Host, Operation};
use crate::{ApiVersion, Credential, GithubError, GithubMetrics, GithubSettings, SearchQuery};

/// What one call came back with, when it is not an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Page<T> {
    /// 200 or 201, body decoded (by `Content-Type`: JSON, or a form from
    /// GitHub's OAuth origin).
    Fresh {
        body: T,
        /// To send back as `If-None-Match` next time.
        etag: Option<String>,
        /// The `Link` header's `rel="next"`, resolved, as GitHub wrote it.
        next: Option<Url>,
        /// The URL that answered, after a redirect.
        url: Url,
        /// Set when GitHub answered 301 (a renamed or transferred
        /// repository): the request was followed once to the new address.
        moved: Option<Box<Moved>>,
        rate: Option<RateObservation>,
        /// Requests made for this page, retries and a redirect included.
        attempts: u32,
    },
    /// `304`: the page is unchanged since the ETag sent; it cost no quota.
    NotModified {
        rate: Option<RateObservation>,
        attempts: u32,
    },
    /// `202`: GitHub is still computing the answer (statistics). Ask again
    /// later, from a rescheduled job rather than a waiting one.
    Computing {
        /// GitHub's `Retry-After`, when it sent one.
        retry_after: Option<DateTime<Utc>>,
        rate: Option<RateObservation>,
        attempts: u32,
    },
    /// `204`: nothing here (an empty repository's statistics or contributors).
    Empty {
        etag: Option<String>,
        rate: Option<RateObservation>,
        attempts: u32,
    },
}

/// A permanent redirect that was followed: the caller should keep the new
/// address (and name) instead of the old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub from: Url,
    /// GitHub's `/repositories/{id}` address: it survives later renames.
    pub to: Url,
    /// The body's `full_name` at the new address, when it has one.
    pub full_name: Option<String>,
}

impl<T> Page<T> {
    pub fn rate(&self) -> Option<&RateObservation> {
        match self {
            Self::Fresh { rate, .. }
            | Self::NotModified { rate, .. }
            | Self::Computing { rate, .. }
            | Self::Empty { rate, .. } => rate.as_ref(),
        }
    }

    pub fn attempts(&self) -> u32 {
        match self {
            Self::Fresh { attempts, .. }
            | Self::NotModified { attempts, .. }
            | Self::Computing { attempts, .. }
            | Self::Empty { attempts, .. } => *attempts,
        }
    }
}

/// A POST body.
#[derive(Debug, Clone, Copy)]
pub enum PostBody<'a> {
    /// `application/x-www-form-urlencoded`.
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a serde_json::Value),
}

/// The GitHub REST client. Cheap to clone; clones share connections, the
/// last-seen rate limits and the budget.
#[derive(Clone)]
pub struct GithubClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub base: Url,
    pub oauth_base: Url,
    pub service: ServiceToken,
    pub api_version: ApiVersion,
    pub budget: Arc<dyn RateBudget>,
    /// Spent instead of `budget` while that cannot be asked; kept in step
    /// with every reply either way.
    pub fallback: LocalBudget,
    pub metrics: Option<GithubMetrics>,
    /// The last rate limits GitHub reported, per (credential id, resource).
    pub rates: Mutex<HashMap<(String, Resource), RateObservation>>,
    /// Delays between retries: doubling from `retry_base_ms` to
    /// `retry_max_ms`, each between half the step and the whole step.
    pub retry: ExponentialBuilder,
    pub budget_wait_max: Duration,
    pub wait_bounds: hubpulse_domain::rate::WaitBounds,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("base_url", &self.inner.base.as_str())
            .field("token_id", &self.inner.service.id)
            .field("authenticated", &self.inner.service.header.is_some())
            .field("api_version", &self.inner.api_version)
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

fn parse_base(raw: &str, key: &str) -> Result<Url, GithubError> {
    Url::parse(raw).map_err(|_| GithubError::Config(format!("{key} is not a URL")))
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
        let base = parse_base(&settings.base_url, "github.base_url")?;
        let oauth_base = parse_base(&settings.oauth_base_url, "github.oauth_base_url")?;
        let service = ServiceToken::new(settings.token())?;
        let http = reqwest::Client::builder()
            .user_agent(settings.user_agent.trim())
            .timeout(settings.request_timeout())
            .connect_timeout(settings.connect_timeout())
            // Followed by hand, once, so a move can be reported and a
            // redirect never takes the token to another origin.
            .redirect(reqwest::redirect::Policy::none())
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
                oauth_base,
                service,
                api_version: settings.api_version,
                budget,
                fallback: LocalBudget::new(settings.budget_policy()),
                metrics,
                rates: Mutex::default(),
                retry: Backoff::new(
                    Duration::from_millis(settings.retry_base_ms),
                    Duration::from_millis(settings.retry_max_ms),
                )
                .attempts(settings.max_retries.saturating_add(1)),
                budget_wait_max: Duration::from_millis(settings.budget_wait_max_ms),
                wait_bounds: settings.wait_bounds(),
            }),
        })
    }

    /// Which token the service credential spends, as the budget and logs
    /// know it.
    pub fn token_id(&self) -> &str {
        &self.inner.service.id
    }

    /// The key under which `credential`'s budget, rate limits and stored
    /// pages are kept: a token id, never the token.
    pub fn credential_id<'a>(&'a self, credential: &'a Credential) -> &'a str {
        credential.id(&self.inner.service)
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub fn api_version(&self) -> ApiVersion {
        self.inner.api_version
    }

    /// Where `operation` lives.
    pub fn origin_of(&self, operation: Operation) -> &Url {
        match operation.spec().host {
            Host::Api => &self.inner.base,
            Host::OAuth => &self.inner.oauth_base,
        }
    }

    /// The pauses that hold budgets now, every credential's.
    pub async fn pauses(
        &self,
    ) -> Result<Vec<hubpulse_domain::rate::Pause>, hubpulse_domain::rate::BudgetError> {
        self.inner.budget.pauses().await
    }

    /// Every bucket of the shared budget, every credential's: limit,
    /// remaining and reset as last seen, and any pause.
    pub async fn buckets(
        &self,
    ) -> Result<Vec<hubpulse_domain::rate::BucketView>, hubpulse_domain::rate::BudgetError> {
        self.inner.budget.buckets().await
    }

    /// Lifts every pause, shared and this process's own; answers how many
    /// shared ones were lifted.
    pub async fn clear_pauses(&self) -> Result<u64, hubpulse_domain::rate::BudgetError> {
        let _ = self.inner.fallback.clear_pauses().await;
        self.inner.budget.clear_pauses().await
    }

    /// The last rate-limit state GitHub reported per resource, for the
    /// service credential.
    pub fn rate_limits(&self) -> HashMap<Resource, RateObservation> {
        self.rate_limits_of(&Credential::Service)
    }

    pub fn rate_limits_of(&self, credential: &Credential) -> HashMap<Resource, RateObservation> {
        let id = self.credential_id(credential);
        self.lock_rates()
            .iter()
            .filter(|((who, _), _)| who == id)
            .map(|((_, resource), seen)| (*resource, *seen))
            .collect()
    }

    /// `operation`'s URL on its origin, `params` filling its placeholders
    /// in order (each one segment, percent-encoded).
    pub fn url(
        &self,
        operation: Operation,
        params: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Url, GithubError> {
        operation.url(self.origin_of(operation), params, query)
    }

    /// `operation`'s URL by a repository's id (see
    /// [`Operation::url_by_repository_id`]).
    pub fn repository_url(
        &self,
        operation: Operation,
        id: i64,
        query: &[(&str, &str)],
    ) -> Result<Url, GithubError> {
        operation.url_by_repository_id(self.origin_of(operation), id, query)
    }

    /// The first page of a repository search; later pages come from
    /// [`Page::Fresh::next`].
    pub fn search_repositories_url(&self, query: &SearchQuery) -> Url {
        let pairs = query.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // No placeholders and a validated base: this cannot fail.
        self.url(Operation::SearchRepositories, &[], &pairs)
            .unwrap_or_else(|_| self.inner.base.clone())
    }

    /// GETs one page as `credential`: spends one unit of that credential's
    /// budget per request, retries 5xx, timeouts and dropped connections
    /// with backoff, follows one redirect, and returns rate limits as
    /// [`GithubError::RateLimited`] at once. With `etag`, sends
    /// `If-None-Match`, and a 304 costs nothing.
    pub async fn get<T: DeserializeOwned>(
        &self,
        operation: Operation,
        url: &Url,
        credential: &Credential,
        etag: Option<&str>,
    ) -> Result<Page<T>, GithubError> {
        self.call(operation, url, credential, etag, None).await
    }

    /// POSTs `body` (the OAuth device flow). Off the REST API no token is
    /// ever sent, whatever `credential` says.
    pub async fn post<T: DeserializeOwned>(
        &self,
        operation: Operation,
        url: &Url,
        credential: &Credential,
        body: PostBody<'_>,
    ) -> Result<Page<T>, GithubError> {
        self.call(operation, url, credential, None, Some(body))
            .await
    }

    pub(crate) fn lock_rates(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, Resource), RateObservation>> {
        // Only whole observations are ever inserted, so a poisoned map is
        // still a consistent one.
        self.inner
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
