//! The `hubpulse-cron` binary against the real API (`hubpulse_api::Application`
//! on the harness's Postgres and Redis), on a port the test picked: cron is
//! started first and waits, bootstraps once the API is up, and outlives the
//! API being gone for 30 seconds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubpulse_api::{Application, Settings};
use hubpulse_testkit::{ADMIN_TOKEN, TestDb, TestRedis, eventually, free_port, test_settings};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_hubpulse-cron");

/// The cron process, its JSON log lines collected as they come.
struct Cron {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Cron {
    fn spawn(base_url: &str, schedule: &std::path::Path) -> Cron {
        let mut command = Command::new(BIN);
        // Only what the test sets: a developer's HUBPULSE__* must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HUBPULSE") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .env("HUBPULSE__CRON__BASE_URL", base_url)
            .env("HUBPULSE__CRON__SCHEDULE_FILE", schedule)
            .env("HUBPULSE__CRON__REQUEST_TIMEOUT_MS", "3000")
            .env("HUBPULSE__CRON__RETRY_BASE_MS", "200")
            .env("HUBPULSE__CRON__RETRY_CAP_MS", "1000")
            .env("HUBPULSE__CRON__MAX_ATTEMPTS", "3")
            .env("HUBPULSE__ADMIN__TOKEN", ADMIN_TOKEN)
            .env("HUBPULSE__LOG__FORMAT", "json")
            .env("HUBPULSE__LOG__LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hubpulse-cron");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Cron { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Log lines from index `from` on, parsed; a line that is not JSON fails the test.
    fn events(&self, from: usize) -> Vec<Value> {
        self.lines()
            .iter()
            .skip(from)
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("poll cron") {
            panic!(
                "cron exited ({status}) {when}; its log:\n{}",
                self.lines().join("\n")
            );
        }
    }

    /// Waits until a log line from `from` on matches, failing with the log.
    async fn wait_for(
        &mut self,
        from: usize,
        deadline: Duration,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            if let Some(event) = self.events(from).into_iter().find(&matches) {
                return event;
            }
            self.assert_running(&format!("while waiting for {what}"));
            assert!(
                started.elapsed() < deadline,
                "no {what} within {deadline:?}; cron's log:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cron {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(event: &Value, message: &str, call: &str) -> bool {
    event["message"] == message && event["call"] == call
}

/// The real API on `addr`, started and stopped by the test.
struct Api {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Api {
    async fn start(settings: &Settings, addr: SocketAddr) -> Api {
        // The port was free when picked and is ours again once the last
        // server let go of it; a moment's retry covers a slow release.
        let listener = eventually(&format!("binding {addr}"), Duration::from_secs(10), || {
            tokio::net::TcpListener::bind(addr)
        })
        .await;
        let app = Application::with_listener(settings.clone(), listener)
            .await
            .expect("the API builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Api { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the API stops within its grace period")
            .expect("the API task ends cleanly");
    }
}

async fn crawl_jobs(db: &TestDb) -> Vec<(i64, String, String)> {
    db.client()
        .await
        .query(
            "SELECT id, kind, payload->>'topic' FROM jobs ORDER BY id",
            &[],
        )
        .await
        .expect("read the jobs table")
        .iter()
        .map(|row| {
            (
                row.get(0),
                row.get(1),
                row.get::<_, Option<String>>(2).unwrap_or_default(),
            )
        })
        .collect()
}

fn ids(event: &Value) -> Vec<i64> {
    event["job_ids"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|_| panic!("job id in {event}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_waits_for_the_api_bootstraps_and_outlives_a_30_second_outage() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut settings = test_settings(&db, &redis);
    settings.server.port = addr.port();
    // No workers: the crawls stay queued, so the jobs table shows exactly
    // what cron asked for, and no GitHub is needed.
    settings.workers.count = 0;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let schedule = dir.path().join("schedule.toml");
    std::fs::write(
        &schedule,
        r#"
[[call]]
name = "bootstrap"
method = "POST"
path = "/bootstrap_db"
at_start = true

[[call]]
name = "update_cache"
method = "POST"
path = "/update_cache"
cron = "*/3 * * * * *"
"#,
    )
    .expect("write the schedule");

    // 1. Cron first, nothing listening: it waits, and calls nothing.
    let mut cron = Cron::spawn(&format!("http://{addr}"), &schedule);
    let waiting = |e: &Value| e["message"] == "waiting for the API to be ready";
    cron.wait_for(0, Duration::from_secs(20), "a wait for /ready", waiting)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cron.assert_running("with the API not yet started");
    let before = cron.events(0);
    assert!(
        before.iter().filter(|e| waiting(e)).count() >= 2,
        "cron keeps polling /ready: {before:?}"
    );
    assert!(
        !before
            .iter()
            .any(|e| e["message"] == "run succeeded" || e["message"] == "attempt failed; retrying"),
        "no call is made before the API is ready: {before:?}"
    );
    assert!(crawl_jobs(&db).await.is_empty(), "nothing queued yet");

    // 2. The API comes up: cron sees it ready and bootstraps.
    let api = Api::start(&settings, addr).await;
    let bootstrap = cron
        .wait_for(0, Duration::from_secs(30), "a bootstrap run", |e| {
            is(e, "run succeeded", "bootstrap")
        })
        .await;
    assert_eq!(bootstrap["status"], 202, "{bootstrap}");
    assert_eq!(bootstrap["topics"], "kubernetes", "{bootstrap}");
    let bootstrap_ids = ids(&bootstrap);
    let jobs = crawl_jobs(&db).await;
    assert_eq!(
        jobs.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
        bootstrap_ids,
        "the job ids cron logged are the jobs in the database"
    );
    assert!(
        jobs.iter()
            .all(|(_, kind, topic)| kind == "crawl_topic" && topic == "kubernetes"),
        "{jobs:?}"
    );
    let ready_at = cron
        .events(0)
        .iter()
        .position(|e| e["message"] == "API is ready")
        .expect("cron logged readiness");
    let bootstrap_at = cron
        .events(0)
        .iter()
        .position(|e| is(e, "run succeeded", "bootstrap"))
        .expect("bootstrap logged");
    assert!(ready_at < bootstrap_at, "/ready before the first call");
    cron.wait_for(
        bootstrap_at,
        Duration::from_secs(15),
        "an update_cache run",
        |e| is(e, "run succeeded", "update_cache"),
    )
    .await;

    // 3. The API goes away for 30 seconds: runs fail, cron stays.
    api.stop().await;
    let outage_from = cron.lines().len();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(30) {
        cron.assert_running("during the API's outage");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let during = cron.events(outage_from);
    assert!(
        during
            .iter()
            .any(|e| is(e, "attempt failed; retrying", "update_cache")),
        "calls are retried while the API is down: {during:?}"
    );
    assert!(
        during.iter().any(|e| is(
            e,
            "run failed on every attempt; made again at its next time",
            "update_cache"
        ) && e["outcome"] == "failed"),
        "runs that fail every attempt are logged as failed: {during:?}"
    );
    assert!(
        !during
            .iter()
            .any(|e| is(e, "run succeeded", "update_cache")),
        "nothing succeeds with the API down: {during:?}"
    );

    // 4. The API is back on the same port: the next update_cache succeeds,
    // answered with the crawl that is still queued.
    let api = Api::start(&settings, addr).await;
    let back_from = cron.lines().len();
    let update = cron
        .wait_for(
            back_from,
            Duration::from_secs(30),
            "an update_cache run after the restart",
            |e| is(e, "run succeeded", "update_cache"),
        )
        .await;
    assert_eq!(update["status"], 202, "{update}");
    assert_eq!(
        ids(&update),
        bootstrap_ids,
        "the queued crawl's id: {update}"
    );
    cron.assert_running("after the API came back");

    // Nothing cron logged carries the admin token.
    let lines = cron.lines();
    for line in &lines {
        assert!(!line.contains(ADMIN_TOKEN), "admin token logged: {line}");
    }

    // 5. SIGTERM: cron stops by itself, successfully.
    let pid = cron.child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signalled.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = cron.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "cron did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    api.stop().await;
}
