//! The one client of the simulator's admin routes (`/_sim/*`), for the
//! tests, the fault suite and the load tests: faults on demand, counters,
//! and the topics' true contents. It speaks the simulator's own types
//! ([`Faults`]); admin routes are never faulted themselves.

use std::collections::BTreeMap;
use std::time::Duration;

use hubpulse_domain::wire::RepoPayload;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    DeviceAction, DeviceReport, Faults, ListControl, PipedriveCounts, PipedriveFaults, Stats,
    StatsChange, TokenReport,
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("{call}: {reason}")]
    Transport { call: String, reason: String },
    #[error("{call}: {status} {body}")]
    Status {
        call: String,
        status: StatusCode,
        body: String,
    },
    #[error("{call}: unexpected reply: {reason}")]
    Decode { call: String, reason: String },
}

/// `GET /_sim/stats`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimStats {
    pub stats: Stats,
    /// How many repositories each topic holds now.
    pub topics: BTreeMap<String, u64>,
    /// The simulator's clock, Unix seconds.
    pub now: i64,
}

/// `GET /_sim/accounts/{login}`: what a simulated account holds.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: i64,
    pub login: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub followers: u64,
    pub following: u64,
    pub starred: u64,
    pub members: u64,
    pub repositories: Vec<AccountRepository>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountRepository {
    pub id: i64,
    pub full_name: String,
    pub former_names: Vec<String>,
    pub empty: bool,
}

#[derive(Deserialize)]
struct Members {
    repositories: Vec<RepoPayload>,
}

#[derive(Deserialize)]
struct Size {
    size: usize,
}

#[derive(Deserialize)]
struct Touched {
    changed: u64,
}

#[derive(Debug, Clone)]
pub struct SimAdmin {
    http: reqwest::Client,
    url: String,
}

impl SimAdmin {
    /// The simulator at `url` (`http://127.0.0.1:PORT`, its GitHub base URL).
    pub fn new(url: impl Into<String>) -> Result<SimAdmin, AdminError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .map_err(|e| AdminError::Build(e.to_string()))?;
        Ok(SimAdmin {
            http,
            url: url.into().trim_end_matches('/').to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, AdminError> {
        let call = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let transport = |e: reqwest::Error| AdminError::Transport {
            call: call.clone(),
            reason: e.without_url().to_string(),
        };
        let reply = request.send().await.map_err(transport)?;
        let status = reply.status();
        let text = reply.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(AdminError::Status {
                call,
                status,
                body: text,
            });
        }
        // A 204 is `null` to whoever expects `()`.
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| AdminError::Decode {
            call,
            reason: format!("{e}: {text}"),
        })
    }

    /// `GET /_sim/faults`.
    pub async fn faults(&self) -> Result<Faults, AdminError> {
        self.call(Method::GET, "/_sim/faults", None).await
    }

    /// `PUT /_sim/faults`: every fault setting from now on.
    pub async fn set_faults(&self, faults: &Faults) -> Result<Faults, AdminError> {
        let body = serde_json::to_value(faults).map_err(|e| AdminError::Decode {
            call: "PUT /_sim/faults".into(),
            reason: e.to_string(),
        })?;
        self.call(Method::PUT, "/_sim/faults", Some(body)).await
    }

    /// `DELETE /_sim/faults`: no faults from now on.
    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.call(Method::DELETE, "/_sim/faults", None).await
    }

    /// `POST /_sim/reset`: counters and quotas back to zero.
    pub async fn reset(&self) -> Result<(), AdminError> {
        self.call(Method::POST, "/_sim/reset", None).await
    }

    /// `GET /_sim/stats`.
    pub async fn stats(&self) -> Result<SimStats, AdminError> {
        self.call(Method::GET, "/_sim/stats", None).await
    }

    /// Every repository `topic` holds, in the order they joined it.
    pub async fn members(&self, topic: &str) -> Result<Vec<RepoPayload>, AdminError> {
        let members: Members = self
            .call(Method::GET, &format!("/_sim/topics/{topic}"), None)
            .await?;
        Ok(members.repositories)
    }

    /// The ids of `topic`'s repositories, sorted.
    pub async fn topic_ids(&self, topic: &str) -> Result<Vec<i64>, AdminError> {
        let mut ids: Vec<i64> = self.members(topic).await?.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// `PUT /_sim/topics/{name}`: the topic now holds `size` repositories;
    /// answers the size it has.
    pub async fn resize(&self, topic: &str, size: usize) -> Result<usize, AdminError> {
        let reply: Size = self
            .call(
                Method::PUT,
                &format!("/_sim/topics/{topic}"),
                Some(json!({ "size": size })),
            )
            .await?;
        Ok(reply.size)
    }

    /// Changes a share of `topic`'s repositories (a star more, pushed now);
    /// answers how many changed.
    pub async fn touch(&self, topic: &str, share: f64) -> Result<u64, AdminError> {
        let reply: Touched = self
            .call(
                Method::POST,
                &format!("/_sim/topics/{topic}/touch"),
                Some(json!({ "share": share })),
            )
            .await?;
        Ok(reply.changed)
    }

    /// One repository leaves `topic`, wherever it sits in its pages;
    /// answers the topic's size after.
    pub async fn leave(&self, topic: &str, id: i64) -> Result<usize, AdminError> {
        let reply: Size = self
            .call(
                Method::DELETE,
                &format!("/_sim/topics/{topic}/repositories/{id}"),
                None,
            )
            .await?;
        Ok(reply.size)
    }

    /// `PUT /_sim/lists`: the next replies of one list path (202s, 204s, a
    /// `Link` cycle), until cleared.
    pub async fn control_list(&self, control: &ListControl) -> Result<(), AdminError> {
        let body = serde_json::to_value(control).map_err(|e| AdminError::Decode {
            call: "PUT /_sim/lists".into(),
            reason: e.to_string(),
        })?;
        let _: Value = self.call(Method::PUT, "/_sim/lists", Some(body)).await?;
        Ok(())
    }

    /// `DELETE /_sim/lists`: every list answers as usual again.
    pub async fn clear_list_controls(&self) -> Result<(), AdminError> {
        let _: Value = self.call(Method::DELETE, "/_sim/lists", None).await?;
        Ok(())
    }

    /// `GET /_sim/accounts/{login}`.
    pub async fn account(&self, login: &str) -> Result<Account, AdminError> {
        self.call(Method::GET, &format!("/_sim/accounts/{login}"), None)
            .await
    }

    /// `PUT /_sim/repositories/{id}/name`: the repository is renamed; its
    /// old name answers 301 from now on.
    pub async fn rename_repository(&self, id: i64, name: &str) -> Result<(), AdminError> {
        let _: Value = self
            .call(
                Method::PUT,
                &format!("/_sim/repositories/{id}/name"),
                Some(json!({ "name": name })),
            )
            .await?;
        Ok(())
    }

    /// `PUT /_sim/accounts/{id}/login`: the account is renamed; its old
    /// login answers 404 from now on.
    pub async fn rename_account(&self, id: i64, login: &str) -> Result<(), AdminError> {
        let _: Value = self
            .call(
                Method::PUT,
                &format!("/_sim/accounts/{id}/login"),
                Some(json!({ "login": login })),
            )
            .await?;
        Ok(())
    }

    /// `PUT /_sim/repositories/{id}/stats`: the repository's contributor
    /// statistics answer 202 `computing` more times (`u32::MAX`: always)
    /// and/or list `newcomers` extra contributors, from now on.
    pub async fn control_stats(&self, id: i64, change: &StatsChange) -> Result<(), AdminError> {
        let body = serde_json::to_value(change).map_err(|e| AdminError::Decode {
            call: "PUT /_sim/repositories/{id}/stats".into(),
            reason: e.to_string(),
        })?;
        let (): () = self
            .call(
                Method::PUT,
                &format!("/_sim/repositories/{id}/stats"),
                Some(body),
            )
            .await?;
        Ok(())
    }

    /// `PUT /_sim/accounts/{login}/gists/{id}`: creates or replaces a gist
    /// with these files (name, language); its `updated_at` becomes now.
    pub async fn put_gist(
        &self,
        login: &str,
        id: &str,
        files: &[(&str, Option<&str>)],
    ) -> Result<(), AdminError> {
        let files: Vec<Value> = files
            .iter()
            .map(|(name, language)| json!({ "filename": name, "language": language, "size": 1 }))
            .collect();
        let _: Value = self
            .call(
                Method::PUT,
                &format!("/_sim/accounts/{login}/gists/{id}"),
                Some(json!({ "files": files })),
            )
            .await?;
        Ok(())
    }

    /// `DELETE /_sim/accounts/{login}/gists/{id}`.
    pub async fn delete_gist(&self, login: &str, id: &str) -> Result<(), AdminError> {
        let (): () = self
            .call(
                Method::DELETE,
                &format!("/_sim/accounts/{login}/gists/{id}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// `POST /_sim/accounts/{login}/gists`: `count` new gists of
    /// `files_per_gist` files each; their ids.
    pub async fn add_gists(
        &self,
        login: &str,
        count: usize,
        files_per_gist: usize,
    ) -> Result<Vec<String>, AdminError> {
        #[derive(Deserialize)]
        struct Ids {
            ids: Vec<String>,
        }
        let ids: Ids = self
            .call(
                Method::POST,
                &format!("/_sim/accounts/{login}/gists"),
                Some(json!({ "count": count, "files_per_gist": files_per_gist })),
            )
            .await?;
        Ok(ids.ids)
    }

    /// `GET /_sim/pipedrive`: what the Pipedrive stand-in holds and counted.
    pub async fn pipedrive(&self) -> Result<PipedriveState, AdminError> {
        self.call(Method::GET, "/_sim/pipedrive", None).await
    }

    /// `GET /_sim/pipedrive/activities`: every activity it holds.
    pub async fn pipedrive_activities(&self) -> Result<Vec<Value>, AdminError> {
        let all: Value = self
            .call(Method::GET, "/_sim/pipedrive/activities", None)
            .await?;
        Ok(all["activities"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /_sim/pipedrive/deals`: every deal it holds.
    pub async fn pipedrive_deals(&self) -> Result<Vec<Value>, AdminError> {
        let all: Value = self
            .call(Method::GET, "/_sim/pipedrive/deals", None)
            .await?;
        Ok(all["deals"].as_array().cloned().unwrap_or_default())
    }

    /// `PUT /_sim/pipedrive/faults`.
    pub async fn set_pipedrive_faults(&self, faults: &PipedriveFaults) -> Result<(), AdminError> {
        let body = serde_json::to_value(faults).map_err(|e| AdminError::Decode {
            call: "PUT /_sim/pipedrive/faults".into(),
            reason: e.to_string(),
        })?;
        let _: Value = self
            .call(Method::PUT, "/_sim/pipedrive/faults", Some(body))
            .await?;
        Ok(())
    }

    /// `DELETE /_sim/pipedrive/faults`.
    pub async fn clear_pipedrive_faults(&self) -> Result<(), AdminError> {
        let (): () = self
            .call(Method::DELETE, "/_sim/pipedrive/faults", None)
            .await?;
        Ok(())
    }

    /// `POST /_sim/oauth/devices/{user_code}`: what the person does at
    /// github.com/login/device (approve as a login, deny), or what a test
    /// forces on the code's next polls.
    pub async fn device(&self, user_code: &str, action: &DeviceAction) -> Result<(), AdminError> {
        let body = serde_json::to_value(action).map_err(|e| AdminError::Decode {
            call: "POST /_sim/oauth/devices/{user_code}".into(),
            reason: e.to_string(),
        })?;
        let (): () = self
            .call(
                Method::POST,
                &format!("/_sim/oauth/devices/{user_code}"),
                Some(body),
            )
            .await?;
        Ok(())
    }

    /// `POST /_sim/oauth/devices/{user_code}` approving as `login`.
    pub async fn approve_device(&self, user_code: &str, login: &str) -> Result<(), AdminError> {
        self.device(
            user_code,
            &DeviceAction::Approve {
                login: login.to_owned(),
            },
        )
        .await
    }

    /// `GET /_sim/oauth/devices/{user_code}`: polls counted, gaps, interval.
    pub async fn device_report(&self, user_code: &str) -> Result<DeviceReport, AdminError> {
        self.call(
            Method::GET,
            &format!("/_sim/oauth/devices/{user_code}"),
            None,
        )
        .await
    }

    /// `PUT /_sim/oauth`: the app's device flow off (or on again).
    pub async fn set_device_flow_disabled(&self, disabled: bool) -> Result<(), AdminError> {
        let (): () = self
            .call(
                Method::PUT,
                "/_sim/oauth",
                Some(json!({ "disabled": disabled })),
            )
            .await?;
        Ok(())
    }

    /// `GET /_sim/oauth/tokens/{login}`: the user's live and revoked tokens.
    pub async fn user_tokens(&self, login: &str) -> Result<TokenReport, AdminError> {
        self.call(Method::GET, &format!("/_sim/oauth/tokens/{login}"), None)
            .await
    }

    /// `POST /_sim/oauth/tokens/{login}/revoke`: the user revokes the app on
    /// github.com; answers how many tokens that ended.
    pub async fn revoke_user_tokens(&self, login: &str) -> Result<u64, AdminError> {
        let reply: Value = self
            .call(
                Method::POST,
                &format!("/_sim/oauth/tokens/{login}/revoke"),
                None,
            )
            .await?;
        Ok(reply["revoked"].as_u64().unwrap_or(0))
    }
}

/// `GET /_sim/pipedrive`.
#[derive(Debug, Clone, Deserialize)]
pub struct PipedriveState {
    pub deals: u64,
    pub activities: u64,
    pub burst_limit: u64,
    pub counts: PipedriveCounts,
}
