//! The simulator on a port of its own, for the tests of this crate.

#![allow(dead_code)] // each test binary uses its own share

use std::time::Duration;

use hubpulse_sim::SimSettings;
use reqwest::Client;
use serde_json::Value;

pub struct Sim {
    pub base: String,
    pub client: Client,
}

/// The test data set with seed 7 and roomy search quotas, changed by `configure`.
pub async fn start(configure: impl FnOnce(&mut SimSettings)) -> Sim {
    let mut settings = SimSettings::for_tests(7);
    // Generous quotas unless a test is about them.
    settings.limits.search_anonymous = 10_000;
    settings.limits.search_authenticated = 10_000;
    configure(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hubpulse_sim::run(
        listener,
        settings,
        std::future::pending(),
    ));
    let client = Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        // Redirects are what some tests are about.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Sim { base, client }
}

impl Sim {
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn faults(&self, faults: Value) {
        self.admin(reqwest::Method::PUT, "/_sim/faults", Some(faults))
            .await;
    }

    pub async fn stats(&self) -> Value {
        self.get("/_sim/stats").await.json().await.unwrap()
    }

    /// An admin call that must succeed; its JSON body, or null.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status();
        let text = reply.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// `rel="next"` from a Link header, whatever the rel order.
pub fn next_link(resp: &reqwest::Response) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    link.split(", ")
        .find(|part| part.ends_with("rel=\"next\""))
        .map(|part| {
            part.split(';')
                .next()
                .unwrap()
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
}

pub fn rels(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get("link")
        .map(|l| {
            l.to_str()
                .unwrap()
                .split(", ")
                .map(|p| {
                    p.rsplit("rel=\"")
                        .next()
                        .unwrap()
                        .trim_end_matches('"')
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn header_number(resp: &reqwest::Response, name: &str) -> i64 {
    resp.headers()[name].to_str().unwrap().parse().unwrap()
}
