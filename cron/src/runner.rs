//! The schedule loop: wait for `/ready`, make the at-start calls, then each
//! recurring call at its time. Every run ends in one log line with its
//! outcome (and the job ids the API answered with); no failure ends the loop.
//! The calls go through the typed client (`hubpulse-client`), the waits
//! between attempts follow the shared policy (`hubpulse_runtime::Backoff`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hubpulse_client::{ApiClient, ClientError, QueuedJobs, RawReply};
use hubpulse_runtime::backoff::{Backoff, Retryable};
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

/// The maintenance routes answer `{"jobs":[{"id","kind","topic"}]}`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reply {
    job_ids: String,
    topics: String,
    /// Whatever else the API said, shortened: for replies of another shape.
    other: String,
}

impl Reply {
    fn parse(reply: &RawReply) -> Reply {
        match reply.json::<QueuedJobs>() {
            Ok(queued) => Reply {
                job_ids: join(queued.jobs.iter().map(|j| j.id.to_string())),
                topics: join(queued.jobs.iter().filter_map(|j| j.topic.clone())),
                other: String::new(),
            },
            Err(_) => Reply {
                other: reply.text().chars().take(300).collect(),
                ..Reply::default()
            },
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

pub struct Runner {
    api: ApiClient,
    retry: Backoff,
    max_attempts: u32,
}

impl Runner {
    pub fn new(settings: &Settings) -> Result<Self, RunnerError> {
        let api = ApiClient::builder(settings.cron.base_url.clone())
            .timeout(Duration::from_millis(settings.cron.request_timeout_ms))
            .user_agent("hubpulse-cron")
            .admin_token(settings.admin.token.clone())
            .build()
            .map_err(|e| RunnerError::Client(e.to_string()))?;
        Ok(Self {
            api,
            retry: Backoff::new(
                Duration::from_millis(settings.cron.retry_base_ms),
                Duration::from_millis(settings.cron.retry_cap_ms),
            ),
            max_attempts: settings.cron.max_attempts,
        })
    }

    fn retry_cap(&self) -> Duration {
        self.retry.bound(u32::MAX)
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
                None => self.retry_cap(),
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
        let poll = Backoff::new(
            Duration::from_millis(250),
            self.retry_cap().min(Duration::from_secs(5)),
        );
        let started = Instant::now();
        let ready = (|| async {
            match self.api.ready().await {
                Ok(ready) if ready.is_ready() => Ok(()),
                Ok(ready) => Err(ClientError::Status {
                    call: "GET /ready".into(),
                    status: ready.status,
                    code: None,
                    body: String::new(),
                }),
                Err(err) => Err(err),
            }
        })
        .retry(poll.builder())
        .notify(|err: &ClientError, _| {
            let waited_ms = started.elapsed().as_millis() as u64;
            match err.status() {
                Some(status) => {
                    tracing::info!(%status, waited_ms, "waiting for the API to be ready")
                }
                None => {
                    tracing::info!(error = %err, waited_ms, "waiting for the API to be ready")
                }
            }
        });
        tokio::select! {
            result = ready => {
                let waited_ms = started.elapsed().as_millis() as u64;
                tracing::info!(waited_ms, "API is ready");
                result.is_ok()
            }
            () = shutdown.cancelled() => false,
        }
    }

    /// One run of `call`: up to `max_attempts` attempts with backoff between
    /// them, then one log line with the outcome.
    pub async fn run_call(&self, call: &Call, shutdown: &CancellationToken) -> Outcome {
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let run = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(call)
        })
        .retry(self.retry.attempts(self.max_attempts))
        .when(ClientError::is_transient)
        .notify(|err, wait| {
            tracing::warn!(
                call = %call.name,
                attempt = attempts.load(Ordering::Relaxed),
                reason = %err,
                retry_in_ms = wait.as_millis() as u64,
                "attempt failed; retrying"
            );
        });
        let result = tokio::select! {
            result = run => result,
            () = shutdown.cancelled() => {
                tracing::info!(call = %call.name, outcome = "cancelled", attempts = attempts.load(Ordering::Relaxed), "run cut short by shutdown");
                return Outcome::Cancelled;
            }
        };
        let attempts = attempts.load(Ordering::Relaxed);
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(reply) => {
                let parsed = Reply::parse(&reply);
                tracing::info!(
                    call = %call.name,
                    outcome = "ok",
                    status = reply.status.as_u16(),
                    attempts,
                    job_ids = %parsed.job_ids,
                    topics = %parsed.topics,
                    reply = %parsed.other,
                    duration_ms,
                    "run succeeded"
                );
                Outcome::Succeeded
            }
            Err(err) if err.is_transient() => {
                tracing::error!(
                    call = %call.name,
                    outcome = "failed",
                    attempts,
                    reason = %err,
                    duration_ms,
                    "run failed on every attempt; made again at its next time"
                );
                Outcome::Failed
            }
            Err(err) => {
                tracing::error!(
                    call = %call.name,
                    outcome = "refused",
                    attempts,
                    reason = %err,
                    duration_ms,
                    "run failed: the API refused the call; not retried before its next time"
                );
                Outcome::Failed
            }
        }
    }

    async fn attempt(&self, call: &Call) -> Result<RawReply, ClientError> {
        let method = match call.method {
            Method::Get => hubpulse_client::Method::GET,
            Method::Post => hubpulse_client::Method::POST,
        };
        // Without a token the call goes out bare and the API answers 401.
        self.api
            .call(method, &call.path, self.api.has_admin_token(), None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> RawReply {
        RawReply {
            status: hubpulse_client::StatusCode::ACCEPTED,
            headers: Default::default(),
            body: body.to_owned().into(),
        }
    }

    #[test]
    fn job_ids_are_read_from_the_reply() {
        let parsed = Reply::parse(&reply(
            r#"{"jobs":[{"id":7,"kind":"crawl_topic","topic":"kubernetes","new":true},{"id":9,"kind":"crawl_topic","topic":"rust"}]}"#,
        ));
        assert_eq!(parsed.job_ids, "7,9");
        assert_eq!(parsed.topics, "kubernetes,rust");
        assert_eq!(parsed.other, "");
        let other = Reply::parse(&reply("not json at all"));
        assert_eq!(other.job_ids, "");
        assert_eq!(other.other, "not json at all");
    }
}
