use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::schedule::{Call, Method};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// How one attempt at a call ended.
enum Attempt {
    Done(reqwest::StatusCode),
    /// Worth trying again: the API or nginx is down, overloaded, or restarting.
    Retry(String),
    /// Trying again cannot help (a 4xx such as 401): logged, the run ends.
    GiveUp(String),
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

    pub async fn run(&self, calls: &[Call], shutdown: CancellationToken) {
        if !self.wait_ready(&shutdown).await {
            return;
        }
        for call in calls.iter().filter(|c| c.at_start) {
            self.run_call(call, &shutdown).await;
        }
        loop {
            let now = Utc::now();
            let Some((due, _)) = calls
                .iter()
                .filter_map(|c| c.next_after(now).map(|at| (at, c)))
                .min_by_key(|(at, _)| *at)
            else {
                tracing::info!("no recurring calls in the schedule; waiting for shutdown");
                shutdown.cancelled().await;
                return;
            };
            let wait = (due - now).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            // Every call whose time has come, computed from just before `due`.
            let just_before = due - chrono::Duration::milliseconds(1);
            for call in calls
                .iter()
                .filter(|c| c.next_after(just_before) == Some(due))
            {
                self.run_call(call, &shutdown).await;
            }
        }
    }

    /// Polls `/ready` until it answers 200; false when shut down first.
    async fn wait_ready(&self, shutdown: &CancellationToken) -> bool {
        let url = format!("{}/ready", self.base_url);
        let mut delay = Duration::from_millis(500);
        let mut waited = Duration::ZERO;
        loop {
            match self.client.get(&url).send().await {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(waited_ms = waited.as_millis() as u64, "API is ready");
                    return true;
                }
                Ok(resp) => {
                    tracing::info!(status = %resp.status(), "waiting for the API to be ready")
                }
                Err(err) => {
                    tracing::info!(error = %without_url(&err), "waiting for the API to be ready")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return false,
            }
            waited += delay;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn run_call(&self, call: &Call, shutdown: &CancellationToken) {
        let started = std::time::Instant::now();
        for attempt in 1..=self.max_attempts {
            match self.attempt(call).await {
                Attempt::Done(status) => {
                    tracing::info!(call = %call.name, %status, attempt, duration_ms = started.elapsed().as_millis() as u64, "call succeeded");
                    return;
                }
                Attempt::GiveUp(reason) => {
                    tracing::error!(call = %call.name, attempt, %reason, "call failed; not retrying this run");
                    return;
                }
                Attempt::Retry(reason) => {
                    let delay = self.backoff(attempt);
                    tracing::warn!(call = %call.name, attempt, %reason, retry_in_ms = delay.as_millis() as u64, "call failed");
                    if attempt == self.max_attempts {
                        break;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
        tracing::error!(call = %call.name, attempts = self.max_attempts, "call failed on every attempt; waiting for its next time");
    }

    async fn attempt(&self, call: &Call) -> Attempt {
        let url = format!("{}{}", self.base_url, call.path);
        let request = match call.method {
            Method::Get => self.client.get(&url),
            Method::Post => self.client.post(&url),
        };
        let request = match self.token.expose_secret() {
            "" => request,
            token => request.bearer_auth(token),
        };
        match request.send().await {
            Ok(resp) if resp.status().is_success() => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                tracing::info!(call = %call.name, reply = %truncate(&body, 500), "reply");
                Attempt::Done(status)
            }
            Ok(resp) => {
                let status = resp.status();
                let body = truncate(&resp.text().await.unwrap_or_default(), 300).to_owned();
                let reason = format!("{status}: {body}");
                if status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                {
                    Attempt::Retry(reason)
                } else {
                    Attempt::GiveUp(reason)
                }
            }
            Err(err) => Attempt::Retry(without_url(&err)),
        }
    }

    /// Full jitter: a random wait up to the exponential bound.
    fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .retry_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.retry_cap);
        let millis =
            rand::rng().random_range(bound.as_millis() as u64 / 2..=bound.as_millis() as u64);
        Duration::from_millis(millis)
    }
}

/// reqwest's messages name the URL; the cron's URLs are not secret, but the
/// log line reads better with the error alone.
fn without_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    match err.url() {
        Some(url) => text.replace(url.as_str(), "<url>"),
        None => text,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
