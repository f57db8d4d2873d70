//! The API, in-process, on a random port, against a fresh database and a
//! private Redis key space: what every HTTP-level test starts with.

use std::net::SocketAddr;
use std::time::Duration;

use hubpulse_api::{Application, Settings};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{TestDb, TestRedis};

/// The admin token every test app accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-5d1c";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub redis: TestRedis,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Settings a test app starts from: the built-in defaults pointed at the
/// test's own database and key prefix, port 0, quick workers.
pub fn test_settings(db: &TestDb, redis: &TestRedis) -> Settings {
    let mut settings = Settings::load(None).expect("built-in defaults load");
    settings.server.port = 0;
    settings.server.replica = "test".into();
    settings.server.shutdown_grace_secs = 2;
    settings.database = db.settings();
    settings.redis.url = SecretString::from(redis.url().to_owned());
    settings.redis.key_prefix = redis.key_prefix().to_owned();
    settings.workers.count = 2;
    settings.workers.poll_interval_ms = 50;
    settings.workers.shutdown_grace_secs = 2;
    settings.admin.token = SecretString::from(ADMIN_TOKEN.to_owned());
    // Nothing listens on the discard port: a test that crawls without
    // pointing at a simulator fails fast here instead of calling GitHub.
    settings.github.base_url = "http://127.0.0.1:9".into();
    settings
}

impl TestApp {
    /// Starts the API with `test_settings`, changed by `configure`, and waits
    /// until it answers /ready.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let mut settings = test_settings(&db, &redis);
        configure(&mut settings);
        let app = Application::build(settings).await.expect("test app builds");
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .no_proxy()
            .build()
            .expect("reqwest client builds");
        let app = TestApp {
            addr,
            client,
            db,
            redis,
            shutdown,
            task: Some(task),
        };
        app.wait_ready(Duration::from_secs(20)).await;
        app
    }

    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the test app")
    }

    /// Polls /ready until 200 or the deadline, then panics naming the last answer.
    pub async fn wait_ready(&self, deadline: Duration) {
        let started = tokio::time::Instant::now();
        let mut last = String::new();
        while started.elapsed() < deadline {
            match self.client.get(self.url("/ready")).send().await {
                Ok(resp) if resp.status().is_success() => return,
                Ok(resp) => {
                    last = format!(
                        "{} {}",
                        resp.status(),
                        resp.text().await.unwrap_or_default()
                    )
                }
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("test app not ready after {deadline:?}: {last}");
    }

    /// Graceful stop: the server drains, the workers release their jobs.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
