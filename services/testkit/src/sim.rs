//! The GitHub simulator on a port of its own, stopped when dropped, and its
//! admin calls (`/_sim/*`) for tests that steer or inspect it.

use std::time::Duration;

use hubpulse_domain::wire::RepoPayload;
use hubpulse_sim::SimSettings;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestSim {
    /// `http://127.0.0.1:PORT`, what `github.base_url` is set to.
    pub url: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TestSim {
    /// The test data set (`SimSettings::for_tests`) changed by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut SimSettings)) -> TestSim {
        let mut settings = SimSettings::for_tests(42);
        configure(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the simulator");
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(hubpulse_sim::run(listener, settings, async move {
            let _ = stopped.await;
        }));
        TestSim {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .expect("reqwest client builds"),
            _stop: stop,
        }
    }

    /// With a search quota no test reaches, for tests that are not about it.
    pub async fn roomy() -> TestSim {
        Self::spawn_with(|s| s.limits.search_authenticated = 100_000).await
    }

    /// `PUT /_sim/faults`: replaces every fault setting from now on.
    pub async fn set_faults(&self, faults: Value) {
        self.admin(
            self.http
                .put(format!("{}/_sim/faults", self.url))
                .json(&faults),
        )
        .await;
    }

    /// Requests answered, by status and injected fault, and quota used.
    pub async fn stats(&self) -> Value {
        self.stats_reply().await["stats"].take()
    }

    /// How many repositories each topic holds now.
    pub async fn topic_sizes(&self) -> Value {
        self.stats_reply().await["topics"].take()
    }

    async fn stats_reply(&self) -> Value {
        self.admin(self.http.get(format!("{}/_sim/stats", self.url)))
            .await
    }

    /// Search quota really spent, by every caller together.
    pub async fn search_quota_used(&self) -> u64 {
        let stats = self.stats().await;
        stats["quota_used"]
            .as_object()
            .map(|callers| {
                callers
                    .iter()
                    .filter(|(caller, _)| caller.ends_with("/search"))
                    .filter_map(|(_, used)| used.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Every repository the simulator holds for `topic`.
    pub async fn members(&self, topic: &str) -> Vec<RepoPayload> {
        let body = self
            .admin(self.http.get(format!("{}/_sim/topics/{topic}", self.url)))
            .await;
        serde_json::from_value(body["repositories"].clone())
            .expect("the simulator lists repositories in GitHub's shape")
    }

    /// `PUT /_sim/topics/{name}`: the topic now holds `size` repositories.
    pub async fn resize(&self, topic: &str, size: usize) {
        let body = self
            .admin(
                self.http
                    .put(format!("{}/_sim/topics/{topic}", self.url))
                    .json(&json!({ "size": size })),
            )
            .await;
        assert_eq!(body["size"], size, "simulator resize: {body}");
    }

    /// Changes a share of `topic`'s repositories (a star more, pushed now);
    /// answers how many changed.
    pub async fn touch(&self, topic: &str, share: f64) -> u64 {
        let body = self
            .admin(
                self.http
                    .post(format!("{}/_sim/topics/{topic}/touch", self.url))
                    .json(&json!({ "share": share })),
            )
            .await;
        body["changed"].as_u64().expect("touch answers `changed`")
    }

    /// One repository leaves `topic`, wherever it sits in the topic's pages.
    pub async fn leave(&self, topic: &str, id: i64) {
        self.admin(self.http.delete(format!(
            "{}/_sim/topics/{topic}/repositories/{id}",
            self.url
        )))
        .await;
    }

    async fn admin(&self, request: reqwest::RequestBuilder) -> Value {
        let reply = request.send().await.expect("the simulator answers");
        let status = reply.status();
        let body = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "simulator admin call: {status} {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }
}
