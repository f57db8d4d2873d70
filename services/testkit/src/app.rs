//! The API, in-process, on a random port, against a fresh database and a
//! private Redis key space: what every HTTP-level test starts with. At
//! teardown it checks that no job ended `failed`, unless the test said that
//! is its point ([`TestApp::expect_failed_jobs`]).

use std::net::SocketAddr;
use std::time::Duration;

use hubpulse_api::{Application, Settings};
use hubpulse_client::ApiClient;
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{TestDb, TestRedis};

/// The admin token every test app accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-5d1c";

pub struct TestApp {
    pub addr: SocketAddr,
    /// The typed client, with the admin token.
    pub api: ApiClient,
    pub db: TestDb,
    pub redis: TestRedis,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    failed_jobs_expected: bool,
    failed_jobs_checked: bool,
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
    settings.github.oauth_base_url = "http://127.0.0.1:9".into();
    // Signing in with GitHub on, so its routes answer more than 503.
    settings.auth.client_id = "hubpulse-test-client".into();
    settings.auth.encryption_key = SecretString::from(TEST_ENCRYPTION_KEY.to_owned());
    settings
}

/// The key every test app seals user tokens with.
pub const TEST_ENCRYPTION_KEY: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The typed client of the API at `base_url`, with the test admin token.
pub fn test_client(base_url: &str) -> ApiClient {
    ApiClient::builder(base_url)
        .admin_token(SecretString::from(ADMIN_TOKEN.to_owned()))
        .build()
        .expect("the API client builds")
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
        let app = TestApp {
            addr,
            api: test_client(&format!("http://{addr}")),
            db,
            redis,
            shutdown,
            task: Some(task),
            failed_jobs_expected: false,
            failed_jobs_checked: false,
        };
        app.wait_ready(Duration::from_secs(20)).await;
        app
    }

    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    /// The raw HTTP client under [`TestApp::api`], for requests the typed
    /// client does not make (malformed ones, odd headers).
    pub fn http(&self) -> &reqwest::Client {
        self.api.http()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http()
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the test app")
    }

    /// Polls /ready until 200 or the deadline, then panics naming the last answer.
    pub async fn wait_ready(&self, deadline: Duration) {
        if let Err(err) = self.api.wait_ready(deadline).await {
            panic!("test app not ready: {err}");
        }
    }

    /// This test makes jobs fail on purpose: teardown does not check.
    pub fn expect_failed_jobs(&mut self) {
        self.failed_jobs_expected = true;
    }

    /// Graceful stop: the server drains, the workers release their jobs;
    /// then no job may have ended `failed`.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        self.failed_jobs_checked = true;
        if !self.failed_jobs_expected {
            assert_no_failed_jobs(&self.db).await;
        }
    }
}

async fn assert_no_failed_jobs(db: &TestDb) {
    let failed: Vec<String> = db
        .client()
        .await
        .query(
            "SELECT id, kind, coalesce(last_error, '') FROM jobs WHERE status = 'failed' ORDER BY id",
            &[],
        )
        .await
        .expect("reading the failed jobs")
        .iter()
        .map(|row| {
            format!(
                "{} #{}: {}",
                row.get::<_, String>(1),
                row.get::<_, i64>(0),
                row.get::<_, String>(2)
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "jobs ended failed (call TestApp::expect_failed_jobs if that is the test's point): {failed:?}"
    );
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if self.failed_jobs_checked || self.failed_jobs_expected || std::thread::panicking() {
            return;
        }
        // A test that ends without `shutdown` is checked here: on a thread
        // of its own, since a test's runtime cannot be blocked on from within.
        let db = &self.db;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for the teardown check")
                        .block_on(assert_no_failed_jobs(db))
                })
                .join()
        })
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    }
}
