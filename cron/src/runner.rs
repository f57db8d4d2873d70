//! The schedule loop: wait for `/ready`, make the at-start calls, then each
//! recurring call at its time. Every run ends in one log line with its
//! outcome (and the job ids the API answered with); no failure ends the loop.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::schedule::{Call, Method};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// How one run of a call (its attempts together) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Every attempt failed, or the API refused the call (a 4xx).
    Failed,
    /// Shutdown came first.
    Cancelled,
}

/// How one attempt at a call ended.
enum Attempt {
    Done {
        status: reqwest::StatusCode,
        reply: Reply,
    },
    /// Worth trying again: the API or nginx is down, overloaded, or restarting.
    Retry(String),
    /// Trying again cannot help (a 4xx such as 401): the run ends.
    GiveUp(String),
}

/// The maintenance routes answer `{"jobs":[{"id","kind","topic"}]}`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reply {
    job_ids: String,
    topics: String,
    /// Whatever else the API said, shortened: for replies of another shape.
    other: String,
}

#[derive(Deserialize)]
struct JobsReply {
    jobs: Vec<JobRef>,
}

#[derive(Deserialize)]
struct JobRef {
    id: i64,
    #[serde(default)]
    topic: Option<String>,
}

impl Reply {
    fn parse(body: &str) -> Reply {
        match serde_json::from_str::<JobsReply>(body) {
            Ok(reply) => Reply {
                job_ids: join(reply.jobs.iter().map(|j| j.id.to_string())),
                topics: join(reply.jobs.iter().filter_map(|j| j.topic.clone())),
                other: String::new(),
            },
            Err(_) => Reply {
                other: truncate(body, 300).to_owned(),
                ..Reply::default()
            },
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

pub struct Runner {
    client: reqwest::Client,
    base_url: String,
    token: SecretString,
    retry_base: Duration,
    retry_cap: Duration,
    max_attempts: u32,
}

impl Runner {
    pub fn new(settings: &Settings) -> Result<Self, RunnerError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.cron.request_timeout_ms))
            .user_agent("hubpulse-cron")
            .build()
            .map_err(|e| RunnerError::Client(e.to_string()))?;
        Ok(Self {
            client,
            base_url: settings.cron.base_url.trim_end_matches('/').to_owned(),
            token: settings.admin.token.clone(),
            retry_base: Duration::from_millis(settings.cron.retry_base_ms),
            retry_cap: Duration::from_millis(settings.cron.retry_cap_ms),
            max_attempts: settings.cron.max_attempts,
        })
    }

    /// Runs the schedule until `shutdown` is cancelled.
    pub async fn run(&self, calls: &[Call], shutdown: CancellationToken) {
        if !self.wait_ready(&shutdown).await {
            return;
        }
        // An at-start call has no next time of its own: until it succeeds it
        // is made again at each scheduled time (or every `retry_cap` when
        // nothing recurs), before the calls due then.
        let mut pending: Vec<&Call> = Vec::new();
        for call in calls.iter().filter(|c| c.at_start) {
            match self.run_call(call, &shutdown).await {
                Outcome::Succeeded => {}
                Outcome::Failed => pending.push(call),
                Outcome::Cancelled => return,
            }
        }
        let mut last_due: Option<DateTime<Utc>> = None;
        loop {
            // Never before the last time served: the wall clock can lag the
            // monotonic one the sleep used, and a call must not run twice.
            let from = last_due.map_or_else(Utc::now, |last| Utc::now().max(last));
            let due = calls.iter().filter_map(|c| c.next_after(from)).min();
            let wait = match due {
                Some(due) => (due - Utc::now()).to_std().unwrap_or_default(),
                None if pending.is_empty() => {
                    tracing::info!("no recurring calls in the schedule; waiting for shutdown");
                    shutdown.cancelled().await;
                    return;
                }
                None => self.retry_cap,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            let retried = std::mem::take(&mut pending);
            for call in &retried {
                match self.run_call(call, &shutdown).await {
                    Outcome::Succeeded => {}
                    Outcome::Failed => pending.push(call),
                    Outcome::Cancelled => return,
                }
            }
            let Some(due) = due else { continue };
            last_due = Some(due);
            // Every call whose time has come, computed from just before `due`.
            let just_before = due - chrono::Duration::milliseconds(1);
            for call in calls.iter().filter(|c| {
                c.next_after(just_before) == Some(due)
                    && !retried.iter().any(|r| std::ptr::eq(*r, *c))
            }) {
                if self.run_call(call, &shutdown).await == Outcome::Cancelled {
                    return;
                }
            }
        }
    }

    /// Polls `/ready` until it answers 200; false when shut down first.
    pub async fn wait_ready(&self, shutdown: &CancellationToken) -> bool {
        let url = format!("{}/ready", self.base_url);
        let max_delay = self.retry_cap.min(Duration::from_secs(5));
        let mut delay = Duration::from_millis(250).min(max_delay);
        let started = Instant::now();
        loop {
            let answer = tokio::select! {
                answer = self.client.get(&url).send() => answer,
                () = shutdown.cancelled() => return false,
            };
            let waited_ms = started.elapsed().as_millis() as u64;
            match answer {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(waited_ms, "API is ready");
                    return true;
                }
                Ok(resp) => {
                    tracing::info!(status = %resp.status(), waited_ms, "waiting for the API to be ready")
                }
                Err(err) => {
                    tracing::info!(error = %describe(&err), waited_ms, "waiting for the API to be ready")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return false,
            }
            delay = (delay * 2).min(max_delay);
        }
    }

    /// One run of `call`: up to `max_attempts` attempts with backoff between
    /// them, then one log line with the outcome.
    pub async fn run_call(&self, call: &Call, shutdown: &CancellationToken) -> Outcome {
        let started = Instant::now();
        let mut last_reason = String::new();
        for attempt in 1..=self.max_attempts {
            let result = tokio::select! {
                result = self.attempt(call) => result,
                () = shutdown.cancelled() => {
                    tracing::info!(call = %call.name, outcome = "cancelled", attempts = attempt, "run cut short by shutdown");
                    return Outcome::Cancelled;
                }
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Attempt::Done { status, reply } => {
                    tracing::info!(
                        call = %call.name,
                        outcome = "ok",
                        status = status.as_u16(),
                        attempts = attempt,
                        job_ids = %reply.job_ids,
                        topics = %reply.topics,
                        reply = %reply.other,
                        duration_ms,
                        "run succeeded"
                    );
                    return Outcome::Succeeded;
                }
                Attempt::GiveUp(reason) => {
                    tracing::error!(
                        call = %call.name,
                        outcome = "refused",
                        attempts = attempt,
                        %reason,
                        duration_ms,
                        "run failed: the API refused the call; not retried before its next time"
                    );
                    return Outcome::Failed;
                }
                Attempt::Retry(reason) if attempt < self.max_attempts => {
                    let delay = self.backoff(attempt);
                    tracing::warn!(
                        call = %call.name,
                        attempt,
                        %reason,
                        retry_in_ms = delay.as_millis() as u64,
                        "attempt failed; retrying"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => {
                            tracing::info!(call = %call.name, outcome = "cancelled", attempts = attempt, "run cut short by shutdown");
                            return Outcome::Cancelled;
                        }
                    }
                }
                Attempt::Retry(reason) => last_reason = reason,
            }
        }
        tracing::error!(
            call = %call.name,
            outcome = "failed",
            attempts = self.max_attempts,
            reason = %last_reason,
            duration_ms = started.elapsed().as_millis() as u64,
            "run failed on every attempt; made again at its next time"
        );
        Outcome::Failed
    }

    async fn attempt(&self, call: &Call) -> Attempt {
        let url = format!("{}{}", self.base_url, call.path);
        let request = match call.method {
            Method::Get => self.client.get(&url),
            Method::Post => self.client.post(&url),
        };
        // reqwest marks the header sensitive: it never shows in a Debug or an error.
        let request = match self.token.expose_secret() {
            "" => request,
            token => request.bearer_auth(token),
        };
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(err) => return Attempt::Retry(describe(&err)),
        };
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Attempt::Done {
                status,
                reply: Reply::parse(&body),
            };
        }
        let reason = format!("{status}: {}", truncate(&body, 300));
        if is_transient(status) {
            Attempt::Retry(reason)
        } else {
            Attempt::GiveUp(reason)
        }
    }

    /// Exponential (`retry_base` doubled per attempt, up to `retry_cap`),
    /// with jitter: a random wait between half the bound and the bound, so
    /// that restarted cron processes do not call in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let bound = backoff_bound(self.retry_base, self.retry_cap, attempt);
        let millis = bound.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

fn backoff_bound(base: Duration, cap: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap)
}

/// A failure that a later attempt can get past: the API, or nginx in front
/// of it, is down, overloaded or restarting.
fn is_transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

/// The error and its causes in one line ("connection refused" sits in the
/// source chain), with the URL left out: the log line names the call.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_the_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_millis(1000));
        let bounds: Vec<u64> = (1..=6)
            .map(|a| backoff_bound(base, cap, a).as_millis() as u64)
            .collect();
        assert_eq!(bounds, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_bound(base, cap, u32::MAX), cap);
    }

    #[test]
    fn server_errors_are_retried_and_refusals_are_not() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(
                is_transient(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 405] {
            assert!(
                !is_transient(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn job_ids_are_read_from_the_reply() {
        let reply = Reply::parse(
            r#"{"jobs":[{"id":7,"kind":"crawl_topic","topic":"kubernetes","new":true},{"id":9,"kind":"crawl_topic","topic":"rust"}]}"#,
        );
        assert_eq!(reply.job_ids, "7,9");
        assert_eq!(reply.topics, "kubernetes,rust");
        assert_eq!(reply.other, "");
        let other = Reply::parse("not json at all");
        assert_eq!(other.job_ids, "");
        assert_eq!(other.other, "not json at all");
    }
}
