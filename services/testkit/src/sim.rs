//! The GitHub simulator on a port of its own, stopped when dropped, and its
//! admin calls (`/_sim/*`, through `hubpulse_sim::admin_client`) for tests
//! that steer or inspect it. A failed admin call fails the test.

use std::collections::BTreeMap;

use hubpulse_domain::wire::RepoPayload;
use hubpulse_sim::Stats;
use hubpulse_sim::admin_client::SimAdmin;
use hubpulse_sim::{Faults, SimSettings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestSim {
    /// `http://127.0.0.1:PORT`, what `github.base_url` is set to.
    pub url: String,
    pub admin: SimAdmin,
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
            admin: SimAdmin::new(&url).expect("the admin client builds"),
            url,
            _stop: stop,
        }
    }

    /// With a search quota no test reaches, for tests that are not about it.
    pub async fn roomy() -> TestSim {
        Self::spawn_with(|s| s.limits.search_authenticated = 100_000).await
    }

    /// `PUT /_sim/faults`: replaces every fault setting from now on.
    pub async fn set_faults(&self, faults: Faults) {
        self.admin
            .set_faults(&faults)
            .await
            .expect("simulator admin call");
    }

    /// Requests answered, by status and injected fault, and quota used.
    pub async fn stats(&self) -> Stats {
        self.admin
            .stats()
            .await
            .expect("simulator admin call")
            .stats
    }

    /// How many repositories each topic holds now.
    pub async fn topic_sizes(&self) -> BTreeMap<String, u64> {
        self.admin
            .stats()
            .await
            .expect("simulator admin call")
            .topics
    }

    /// Search quota really spent, by every caller together.
    pub async fn search_quota_used(&self) -> u64 {
        self.stats().await.search_quota_used()
    }

    /// Every repository the simulator holds for `topic`.
    pub async fn members(&self, topic: &str) -> Vec<RepoPayload> {
        self.admin
            .members(topic)
            .await
            .expect("simulator admin call")
    }

    /// `PUT /_sim/topics/{name}`: the topic now holds `size` repositories.
    pub async fn resize(&self, topic: &str, size: usize) {
        let now = self
            .admin
            .resize(topic, size)
            .await
            .expect("simulator admin call");
        assert_eq!(now, size, "simulator resize of {topic}");
    }

    /// Changes a share of `topic`'s repositories (a star more, pushed now);
    /// answers how many changed.
    pub async fn touch(&self, topic: &str, share: f64) -> u64 {
        self.admin
            .touch(topic, share)
            .await
            .expect("simulator admin call")
    }

    /// One repository leaves `topic`, wherever it sits in the topic's pages.
    pub async fn leave(&self, topic: &str, id: i64) {
        self.admin
            .leave(topic, id)
            .await
            .expect("simulator admin call");
    }
}
