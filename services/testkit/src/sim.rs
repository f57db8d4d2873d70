//! The GitHub simulator on a port of its own, stopped when dropped.

use hubpulse_sim::SimSettings;
use serde_json::Value;
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

    /// `PUT /_sim/faults`: the faults the simulator injects from now on.
    pub async fn set_faults(&self, faults: Value) {
        self.admin(
            self.http
                .put(format!("{}/_sim/faults", self.url))
                .json(&faults),
        )
        .await;
    }

    /// `GET /_sim/stats`: requests answered, by status and injected fault.
    pub async fn stats(&self) -> Value {
        self.admin(self.http.get(format!("{}/_sim/stats", self.url)))
            .await
    }

    /// Search quota really spent, by every caller together.
    pub async fn search_quota_used(&self) -> u64 {
        let stats = self.stats().await;
        stats["stats"]["quota_used"]
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

    /// `PUT /_sim/topics/{name}`: the topic now holds `size` repositories.
    pub async fn resize(&self, topic: &str, size: usize) {
        self.admin(
            self.http
                .put(format!("{}/_sim/topics/{topic}", self.url))
                .json(&serde_json::json!({ "size": size })),
        )
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
