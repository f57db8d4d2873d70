//! The client: one `reqwest::Client`, the token as a sensitive default
//! header, paced requests, the envelope decoded into data or an error.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::PipedriveError;
use crate::pace::Pace;
use crate::settings::PipedriveSettings;

/// Lists ask for this many a page (v2's maximum is 500).
const PAGE_LIMIT: &str = "500";

pub struct PipedriveClient {
    http: reqwest::Client,
    base: String,
    pace: Pace,
}

impl std::fmt::Debug for PipedriveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipedriveClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewDeal {
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deal {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewActivity {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub deal_id: i64,
    pub done: bool,
    /// HTML; carries the marker that identifies what was posted.
    pub note: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    pub id: i64,
    #[serde(default)]
    pub deal_id: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
}

/// One page of a cursor list; `next_cursor` is `None` at the end.
#[derive(Debug, Clone)]
pub struct CursorPage<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    // A missing `data` is `None` without a `T: Default` bound.
    data: Option<T>,
    #[serde(default)]
    additional_data: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

impl PipedriveClient {
    pub fn new(settings: &PipedriveSettings) -> Result<Self, PipedriveError> {
        let mut headers = HeaderMap::new();
        let mut token =
            HeaderValue::from_str(settings.api_token.expose_secret()).map_err(|_| {
                PipedriveError::Build("the API token is not a valid header value".into())
            })?;
        // Kept out of Debug output and HTTP/2 header compression tables.
        token.set_sensitive(true);
        headers.insert("x-api-token", token);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .user_agent("hubpulse")
            .build()
            .map_err(|e| PipedriveError::Build(e.without_url().to_string()))?;
        Ok(PipedriveClient {
            http,
            base: settings.api_base(),
            pace: Pace::new(settings.burst_per_2s),
        })
    }

    pub async fn create_deal(&self, deal: &NewDeal) -> Result<Deal, PipedriveError> {
        self.send(Method::POST, "/deals", &[], Some(deal)).await
    }

    pub async fn deals(&self, cursor: Option<&str>) -> Result<CursorPage<Deal>, PipedriveError> {
        self.page("/deals", &[], cursor).await
    }

    pub async fn create_activity(
        &self,
        activity: &NewActivity,
    ) -> Result<Activity, PipedriveError> {
        self.send(Method::POST, "/activities", &[], Some(activity))
            .await
    }

    /// `GET /api/v2/activities?deal_id=` (not search: cheaper, and fresh
    /// right after a create).
    pub async fn deal_activities(
        &self,
        deal_id: i64,
        cursor: Option<&str>,
    ) -> Result<CursorPage<Activity>, PipedriveError> {
        let deal = deal_id.to_string();
        self.page("/activities", &[("deal_id", deal.as_str())], cursor)
            .await
    }

    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        cursor: Option<&str>,
    ) -> Result<CursorPage<T>, PipedriveError> {
        let mut query = query.to_vec();
        query.push(("limit", PAGE_LIMIT));
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let (data, additional): (Vec<T>, Option<Value>) =
            self.call(Method::GET, path, &query, None::<&()>).await?;
        let next_cursor = additional
            .as_ref()
            .and_then(|a| a.get("next_cursor"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(CursorPage { data, next_cursor })
    }

    async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, PipedriveError> {
        Ok(self.call(method, path, query, body).await?.0)
    }

    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<(T, Option<Value>), PipedriveError> {
        self.pace.slot().await;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let reply = request
            .send()
            .await
            .map_err(|e| PipedriveError::Transport(e.without_url().to_string()))?;
        let status = reply.status();
        let reset = reply
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let remaining = reply
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = reply
            .text()
            .await
            .map_err(|e| PipedriveError::Transport(e.without_url().to_string()))?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let reset_secs = reset.unwrap_or(2).max(1);
            self.pace.pause(reset_secs).await;
            return Err(PipedriveError::RateLimited { reset_secs });
        }
        if remaining == Some(0) {
            // The window is spent: the next request would be a 429.
            self.pace.pause(reset.unwrap_or(2).max(1)).await;
        }
        if status.is_server_error() {
            return Err(PipedriveError::Server {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let envelope: Option<ErrorEnvelope> = serde_json::from_str(&text).ok();
            let message = envelope
                .as_ref()
                .and_then(|e| e.error.clone())
                .unwrap_or_else(|| status.to_string());
            let code = envelope.and_then(|e| e.code);
            return Err(match (status, code) {
                (StatusCode::UNAUTHORIZED, _) => PipedriveError::Unauthorized,
                (StatusCode::FORBIDDEN, Some(code)) if code.starts_with("feature_capping") => {
                    PipedriveError::FeatureCapped { code, message }
                }
                _ => PipedriveError::Rejected {
                    status: status.as_u16(),
                    message,
                },
            });
        }
        let envelope: Envelope<T> =
            serde_json::from_str(&text).map_err(|e| PipedriveError::Decode(format!("{e}")))?;
        let data = envelope
            .data
            .ok_or_else(|| PipedriveError::Decode("no data in a successful reply".into()))?;
        Ok((data, envelope.additional_data))
    }
}
