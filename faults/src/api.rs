//! The calls a case makes besides its load: maintenance routes, job status,
//! readiness and metrics of one replica, and the simulator's admin routes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Stack;

/// A reply as a case looks at it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// `{"error":{"code":…}}`: the error body every API and nginx error has.
    pub fn error_code(&self) -> Option<String> {
        self.json()?
            .pointer("/error/code")?
            .as_str()
            .map(str::to_owned)
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("a reqwest client with static settings builds")
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    nginx: String,
    token: String,
}

impl Api {
    pub fn new<S: Stack>(stack: &S) -> Api {
        Api {
            http: http_client(),
            nginx: stack.nginx_url(),
            token: stack.admin_token(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx)
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = reply.status();
        let content_type = reply
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = reply
            .text()
            .await
            .with_context(|| format!("{method} {url}: reading the body"))?;
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// `POST /v1/topics`: tracked from now on (already tracked is fine).
    pub async fn track(&self, topic: &str) -> anyhow::Result<()> {
        let reply = self
            .send(
                Method::POST,
                &self.url("/v1/topics"),
                Some(json!({ "name": topic })),
            )
            .await?;
        if !reply.status.is_success() {
            bail!("tracking {topic}: {} {}", reply.status, reply.body);
        }
        Ok(())
    }

    /// `DELETE /v1/topics/{topic}` (not tracked is fine).
    pub async fn untrack(&self, topic: &str) -> anyhow::Result<()> {
        let reply = self
            .send(
                Method::DELETE,
                &self.url(&format!("/v1/topics/{topic}")),
                None,
            )
            .await?;
        if !reply.status.is_success() && reply.status != StatusCode::NOT_FOUND {
            bail!("untracking {topic}: {} {}", reply.status, reply.body);
        }
        Ok(())
    }

    /// A maintenance call (`/bootstrap_db`, `/update_cache`) as sent.
    pub async fn maintenance(&self, method: Method, path: &str) -> anyhow::Result<Reply> {
        self.send(method, &self.url(path), None).await
    }

    /// `POST /update_cache`, which must answer 202: the crawl job of each
    /// tracked topic, by topic.
    pub async fn update_cache(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        self.queue_crawls("/update_cache").await
    }

    pub async fn bootstrap(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        self.queue_crawls("/bootstrap_db").await
    }

    async fn queue_crawls(&self, path: &str) -> anyhow::Result<BTreeMap<String, i64>> {
        let reply = self.maintenance(Method::POST, path).await?;
        if reply.status != StatusCode::ACCEPTED {
            bail!("POST {path}: {} {}", reply.status, reply.body);
        }
        let body = reply.json().context("a 202 that is not JSON")?;
        let mut jobs = BTreeMap::new();
        for job in body["jobs"].as_array().context("no jobs in the 202")? {
            let (Some(topic), Some(id)) = (job["topic"].as_str(), job["id"].as_i64()) else {
                bail!("POST {path}: a job without topic or id: {job}");
            };
            jobs.insert(topic.to_owned(), id);
        }
        Ok(jobs)
    }

    /// `GET /v1/tasks/{id}`.
    pub async fn job(&self, id: i64) -> anyhow::Result<Value> {
        let reply = self
            .send(Method::GET, &self.url(&format!("/v1/tasks/{id}")), None)
            .await?;
        if reply.status != StatusCode::OK {
            bail!("GET /v1/tasks/{id}: {} {}", reply.status, reply.body);
        }
        reply.json().context("a job that is not JSON")
    }

    /// Polls the job until it has succeeded or failed, or `within` passed.
    /// Polling errors (a replica restarting, Postgres down) are waited out.
    pub async fn wait_job(&self, id: i64, within: Duration) -> anyhow::Result<JobWatch> {
        let started = Instant::now();
        let mut watch = JobWatch::default();
        loop {
            match self.job(id).await {
                Ok(job) => {
                    let status = job["status"].as_str().unwrap_or("?").to_owned();
                    if watch.statuses.last() != Some(&status) {
                        watch.statuses.push(status.clone());
                    }
                    if status == "succeeded" || status == "failed" {
                        watch.job = job;
                        watch.waited = started.elapsed();
                        return Ok(watch);
                    }
                    watch.job = job;
                }
                Err(err) => watch.poll_errors.push(format!("{err:#}")),
            }
            if started.elapsed() > within {
                bail!(
                    "job {id} did not finish within {within:?} (statuses seen: {}; last: {})",
                    watch.statuses.join(" → "),
                    watch.job
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `GET /ready` of one replica.
    pub async fn ready(&self, replica_url: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, &format!("{replica_url}/ready"), None)
            .await
    }

    /// Waits until every replica says it is ready.
    pub async fn wait_ready<S: Stack>(&self, stack: &S, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        for n in 1..=stack.replica_count() {
            loop {
                let last = match self.ready(&stack.replica_url(n)).await {
                    Ok(reply) if reply.status == StatusCode::OK => break,
                    Ok(reply) => format!("{} {}", reply.status, reply.body),
                    Err(err) => format!("{err:#}"),
                };
                if started.elapsed() > within {
                    bail!("api-{n} not ready after {within:?}: {last}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// `hubpulse_view_reads_total` by tier, summed over every replica.
    pub async fn view_reads<S: Stack>(&self, stack: &S) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut tiers = BTreeMap::new();
        for n in 1..=stack.replica_count() {
            let url = format!("{}/metrics", stack.replica_url(n));
            let reply = self.send(Method::GET, &url, None).await?;
            if reply.status != StatusCode::OK {
                bail!("GET {url}: {}", reply.status);
            }
            for (tier, value) in parse_view_reads(&reply.body) {
                *tiers.entry(tier).or_default() += value;
            }
        }
        Ok(tiers)
    }
}

/// What watching a job saw.
#[derive(Debug, Default)]
pub struct JobWatch {
    /// The job as last read.
    pub job: Value,
    /// Each status seen, in order, repeats folded.
    pub statuses: Vec<String>,
    pub poll_errors: Vec<String>,
    pub waited: Duration,
}

impl JobWatch {
    pub fn status(&self) -> &str {
        self.job["status"].as_str().unwrap_or("?")
    }

    pub fn attempts(&self) -> i64 {
        self.job["attempts"].as_i64().unwrap_or(0)
    }

    pub fn result(&self, key: &str) -> &Value {
        &self.job["result"][key]
    }
}

/// `hubpulse_view_reads_total{replica="api-1",tier="redis"} 42` → (redis, 42).
pub fn parse_view_reads(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter(|line| line.starts_with("hubpulse_view_reads_total{"))
        .filter_map(|line| {
            let (labels, value) = line.rsplit_once(' ')?;
            let tier = labels.split("tier=\"").nth(1)?.split('"').next()?;
            Some((tier.to_owned(), value.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// The simulator's admin routes (never faulted themselves).
#[derive(Clone)]
pub struct Sim {
    http: reqwest::Client,
    url: String,
}

impl Sim {
    pub fn new<S: Stack>(stack: &S) -> Sim {
        Sim {
            http: http_client(),
            url: stack.sim_url(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {url}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `PUT /_sim/faults`: what the simulator injects from now on.
    pub async fn set_faults(&self, faults: Value) -> anyhow::Result<()> {
        self.call(Method::PUT, "/_sim/faults", Some(faults))
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.call(Method::DELETE, "/_sim/faults", None)
            .await
            .map(drop)
    }

    /// `POST /_sim/reset`: counters and quotas back to zero.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.call(Method::POST, "/_sim/reset", None).await.map(drop)
    }

    /// `GET /_sim/stats`: requests by status, faults injected by kind, slow
    /// replies, quota really spent.
    pub async fn stats(&self) -> anyhow::Result<Value> {
        let reply = self.call(Method::GET, "/_sim/stats", None).await?;
        Ok(reply.get("stats").cloned().unwrap_or(reply))
    }

    /// The ids of a topic's repositories, as the simulated GitHub holds them.
    pub async fn topic_ids(&self, topic: &str) -> anyhow::Result<Vec<i64>> {
        let reply = self
            .call(Method::GET, &format!("/_sim/topics/{topic}"), None)
            .await?;
        let mut ids: Vec<i64> = reply["repositories"]
            .as_array()
            .with_context(|| format!("no repositories listed for topic {topic}"))?
            .iter()
            .filter_map(|r| r["id"].as_i64())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many repositories the simulated GitHub has under `topic`.
    pub async fn topic_size(&self, topic: &str) -> anyhow::Result<u64> {
        let page = self
            .call(
                Method::GET,
                &format!("/search/repositories?q=topic:{topic}&per_page=1"),
                None,
            )
            .await?;
        page["total_count"]
            .as_u64()
            .with_context(|| format!("no total_count for topic {topic}: {page}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_are_read_by_tier() {
        let text = "# HELP hubpulse_view_reads_total View reads\n\
            # TYPE hubpulse_view_reads_total counter\n\
            hubpulse_view_reads_total{replica=\"api-1\",tier=\"postgres\"} 3\n\
            hubpulse_view_reads_total{replica=\"api-1\",tier=\"redis\"} 42\n\
            hubpulse_http_requests_total{replica=\"api-1\",route=\"/x\"} 9\n";
        assert_eq!(
            parse_view_reads(text),
            [("postgres".to_owned(), 3), ("redis".to_owned(), 42)]
        );
    }
}
