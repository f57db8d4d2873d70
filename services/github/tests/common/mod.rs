//! Shared by the integration tests: client settings tuned for quick tests,
//! fault settings from JSON and an in-memory page store. The simulator is
//! testkit's `TestSim`.

#![allow(dead_code)]

pub mod script;

use std::sync::Arc;

use hubpulse_domain::wire::{RepoPayload, SearchPage};
use hubpulse_github::{
    Credential, GithubClient, GithubError, GithubSettings, Operation, Page, PageKey, PageMemory,
    PageRecord, Remembered, Url,
};
use hubpulse_sim::Faults;
use secrecy::SecretString;
use serde_json::Value;

/// A token shaped like a real one, so a leak would be spotted.
pub const TOKEN: &str = "ghp_DoNotLeakThisTokenAnywhere0123456789";

pub type Search = SearchPage<RepoPayload>;

/// Fault settings from JSON, as a test reads best: `faults(json!({"error_rate": 1.0}))`.
pub fn faults(settings: Value) -> Faults {
    serde_json::from_value(settings).expect("fault settings the simulator knows")
}

/// Fast retries and a short timeout: failures are provoked on purpose here.
pub fn settings(base: &str) -> GithubSettings {
    let mut settings = GithubSettings::new(base, Some(SecretString::from(TOKEN)));
    settings.request_timeout_ms = 2_000;
    settings.retry_base_ms = 5;
    settings.retry_max_ms = 40;
    settings
}

pub fn local_budget(settings: &GithubSettings) -> Arc<hubpulse_domain::rate::LocalBudget> {
    Arc::new(hubpulse_domain::rate::LocalBudget::new(
        settings.budget_policy(),
    ))
}

pub fn client(settings: &GithubSettings) -> GithubClient {
    GithubClient::new(settings, local_budget(settings), None).unwrap()
}

pub struct Crawl {
    pub items: Vec<RepoPayload>,
    pub pages: Vec<(Url, u32)>,
    pub total_count: u64,
}

/// Every page from `url` on, following `Link: rel="next"`.
pub async fn crawl(client: &GithubClient, url: Url) -> Result<Crawl, GithubError> {
    let mut out = Crawl {
        items: Vec::new(),
        pages: Vec::new(),
        total_count: 0,
    };
    let mut next = Some(url);
    while let Some(url) = next.take() {
        match client
            .get::<Search>(
                Operation::SearchRepositories,
                &url,
                &Credential::Service,
                None,
            )
            .await?
        {
            Page::Fresh {
                body,
                next: following,
                attempts,
                ..
            } => {
                out.total_count = body.total_count;
                out.items.extend(body.items);
                out.pages.push((url, attempts));
                next = following;
            }
            other => panic!("a search answers 200: {other:?}"),
        }
        assert!(out.pages.len() <= 20, "pagination does not end");
    }
    Ok(out)
}

/// Stored pages in a map, as the jobs crate keeps them in Postgres.
#[derive(Default)]
pub struct MemoryPages(std::sync::Mutex<std::collections::HashMap<PageKey, Remembered>>);

impl MemoryPages {
    /// What a caller does in the transaction that writes a page's rows.
    pub fn remember(&self, record: &PageRecord) {
        let mut pages = self.0.lock().unwrap();
        match &record.etag {
            Some(etag) => {
                pages.insert(
                    record.key.clone(),
                    Remembered {
                        etag: etag.clone(),
                        ids: record.ids.clone(),
                        next: record.next.clone(),
                        total: record.total,
                    },
                );
            }
            None => {
                pages.remove(&record.key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn keys(&self) -> Vec<PageKey> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl PageMemory for MemoryPages {
    type Error = std::convert::Infallible;

    async fn recall(&self, key: &PageKey) -> Result<Option<Remembered>, Self::Error> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
}
