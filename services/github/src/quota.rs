//! The client's side of the shared budget: one unit per request, per
//! credential, kept in step with what every reply says.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use hubpulse_domain::rate::{Grant, RateBudget, RateObservation, Resource};
use rand::Rng;

use crate::headers::rate_observation;
use crate::{GithubClient, GithubError};

/// The unit a request was granted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spent {
    pub resource: Resource,
    /// The window the unit came from, for a refund; `None` for the single
    /// probe into an unknown window.
    pub window: Option<DateTime<Utc>>,
}

impl GithubClient {
    /// One unit of `who`'s budget, waiting out short denials.
    pub(crate) async fn acquire(
        &self,
        who: &str,
        resource: Resource,
    ) -> Result<Spent, GithubError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.budget_wait_max;
        loop {
            let grant = match inner.budget.acquire(who, resource).await {
                Ok(grant) => grant,
                Err(err) => {
                    // Redis down must not stop the crawl, nor let this
                    // process spend blindly: the local budget has seen every
                    // reply this process had, reserve included.
                    tracing::warn!(error = %err, "shared rate budget unavailable; using this process's own");
                    inner
                        .fallback
                        .acquire(who, resource)
                        .await
                        .unwrap_or(Grant::Granted { window: None })
                }
            };
            let (until, poll) = match grant {
                Grant::Granted { window } => return Ok(Spent { resource, window }),
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

    /// Keeps what the reply said about `who`'s quota, here and in the shared
    /// budget. A `304` costs nothing, so its unit goes back first. A probe
    /// that learnt nothing is released for the next caller.
    pub(crate) async fn record_rate(
        &self,
        headers: &HeaderMap,
        resource: Option<Resource>,
        who: &str,
        spent: Option<Spent>,
        status: StatusCode,
    ) -> Option<RateObservation> {
        let inner = &self.inner;
        if status == StatusCode::NOT_MODIFIED
            && let Some(Spent {
                resource,
                window: Some(window),
            }) = spent
        {
            let _ = inner.fallback.refund(who, resource, window).await;
            if let Err(err) = inner.budget.refund(who, resource, window).await {
                tracing::warn!(error = %err, "could not refund a 304 to the shared budget");
            }
        }
        let Some((observed, seen)) =
            resource.and_then(|r| rate_observation(headers, r, &inner.wait_bounds, Utc::now()))
        else {
            if let Some(spent) = spent {
                self.release_if_probe(who, spent).await;
            }
            return None;
        };
        {
            let mut rates = self.lock_rates();
            let key = (who.to_owned(), observed);
            let keep = rates.get(&key).is_none_or(|old| seen.supersedes(old));
            if keep {
                rates.insert(key, seen);
                // Per resource, for the service's own token only: one
                // series per signed-in user would grow without bound.
                if who == inner.service.id
                    && let Some(metrics) = &inner.metrics
                {
                    metrics.remaining(observed, seen.remaining);
                }
            }
        }
        let _ = inner.fallback.observe(who, observed, seen).await;
        if let Err(err) = inner.budget.observe(who, observed, seen).await {
            tracing::warn!(error = %err, "could not update the shared budget");
        }
        Some(seen)
    }

    pub(crate) async fn release_if_probe(&self, who: &str, spent: Spent) {
        if spent.window.is_some() {
            return;
        }
        let inner = &self.inner;
        let _ = inner.fallback.release_probe(who, spent.resource).await;
        if let Err(err) = inner.budget.release_probe(who, spent.resource).await {
            tracing::warn!(error = %err, "could not release a probe of the shared budget");
        }
    }

    pub(crate) async fn pause(&self, who: &str, resource: Resource, until: DateTime<Utc>) {
        let inner = &self.inner;
        let _ = inner.fallback.pause(who, resource, until).await;
        if let Err(err) = inner.budget.pause(who, resource, until).await {
            tracing::warn!(error = %err, "could not tell the shared budget to pause");
        }
    }
}
