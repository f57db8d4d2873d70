//! Every case of the fault suite in `make test`, with `Profile::quick`,
//! against an in-process equivalent of the local stack: the real nginx
//! configuration (`proxy/render.sh` over `proxy/nginx.conf`) in front of two
//! replicas of the real application, a private PostgreSQL and Redis, and
//! the simulator. Each replica runs in a tokio runtime of its own: killing
//! it drops the runtime, which closes its listener, its connections and its
//! database sessions at once and leaves its job leases to expire, as a
//! SIGKILL does. `make faults` runs the same cases against the release
//! stack of `scripts/stack.sh`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use hubpulse_api::{Application, Settings};
use hubpulse_client::ApiClient;
use hubpulse_domain::Topic;
use hubpulse_faults::{Case, Profile, Stack};
use hubpulse_runtime::backoff::{Backoff, Retryable};
use hubpulse_sim::TopicSpec;
use hubpulse_testkit::{PrivatePostgres, TestNginx, TestSim, free_port, private_postgres};
use secrecy::SecretString;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const ADMIN_TOKEN: &str = "faults-admin-token-1e6b";
const REPLICAS: usize = 2;
/// Short, so a killed worker's job is taken up within seconds.
const LEASE_SECS: u64 = 4;

/// Polls `base_url`'s `/health` until it answers.
async fn wait_healthy(base_url: &str, within: Duration) -> anyhow::Result<()> {
    let api = ApiClient::new(base_url)?;
    (|| api.health())
        .retry(Backoff::POLL.within(within))
        .await
        .with_context(|| format!("{base_url}/health did not answer within {within:?}"))?;
    Ok(())
}

/// One API replica in a runtime of its own.
struct Replica {
    name: String,
    port: u16,
    running: Option<(Runtime, CancellationToken, JoinHandle<()>)>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some((runtime, shutdown, _)) = self.running.take() {
            shutdown.cancel();
            // Dropping a runtime may block, which an async context forbids.
            runtime.shutdown_background();
        }
    }
}

/// A Redis server process of the test's own, stopped and started at will.
struct PrivateRedis {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (scripts/install-deps.sh installs it)")?;
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        (|| tokio::net::TcpStream::connect(&addr))
            .retry(Backoff::POLL.within(Duration::from_secs(10)))
            .await
            .with_context(|| format!("redis-server did not listen on {addr} within 10 s"))?;
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

struct InProcess {
    pg: tokio::sync::Mutex<PrivatePostgres>,
    pg_url: String,
    redis: tokio::sync::Mutex<PrivateRedis>,
    redis_port: u16,
    sim: TestSim,
    replicas: Vec<Mutex<Replica>>,
    nginx: TestNginx,
    load_topic: String,
}

impl InProcess {
    async fn start(profile: &Profile) -> anyhow::Result<InProcess> {
        let pg = private_postgres().await;
        let pg_url = pg.database_url();
        let mut redis = PrivateRedis {
            dir: tempfile::tempdir()?,
            port: free_port(),
            child: None,
        };
        redis.start().await?;
        let topics = profile.topic_list();
        let graph_developers = profile.graph_developers;
        let sim = TestSim::spawn_with(|s| {
            s.topics = topics
                .iter()
                .map(|(name, size)| TopicSpec {
                    name: (*name).to_owned(),
                    size: *size,
                })
                .collect();
            for (key, value) in hubpulse_faults::cases::SIM_LIMITS {
                match key {
                    "search_authenticated" => s.limits.search_authenticated = value,
                    "search_anonymous" => s.limits.search_anonymous = value,
                    "search_window_secs" => s.limits.search_window_secs = value,
                    "core_authenticated" => s.limits.core_authenticated = value,
                    "core_anonymous" => s.limits.core_anonymous = value,
                    "core_window_secs" => s.limits.core_window_secs = value,
                    _ => {}
                }
            }
            s.graph.developers = graph_developers;
        })
        .await;
        let replicas: Vec<Mutex<Replica>> = (1..=REPLICAS)
            .map(|n| {
                Mutex::new(Replica {
                    name: format!("api-{n}"),
                    port: free_port(),
                    running: None,
                })
            })
            .collect();
        let ports: Vec<u16> = replicas
            .iter()
            .map(|r| r.lock().expect("not poisoned").port)
            .collect();
        let upstreams: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let nginx = TestNginx::start(&upstreams);
        let stack = InProcess {
            pg: tokio::sync::Mutex::new(pg),
            pg_url,
            redis_port: redis.port,
            redis: tokio::sync::Mutex::new(redis),
            sim,
            replicas,
            nginx,
            load_topic: profile.topics.load.0.to_owned(),
        };
        for n in 1..=REPLICAS {
            stack.start_replica(n).await?;
        }
        wait_healthy(&stack.nginx_url(), Duration::from_secs(10)).await?;
        Ok(stack)
    }

    fn settings(&self, name: &str, port: u16) -> anyhow::Result<Settings> {
        let mut s = Settings::load(None).context("the API's built-in settings")?;
        s.server.host = "127.0.0.1".into();
        s.server.port = port;
        s.server.replica = name.to_owned();
        s.server.shutdown_grace_secs = 5;
        s.database.url = SecretString::from(self.pg_url.clone());
        s.redis.url = SecretString::from(format!("redis://127.0.0.1:{}", self.redis_port));
        s.workers.count = 2;
        s.workers.lease_secs = LEASE_SECS;
        s.workers.poll_interval_ms = 100;
        s.workers.shutdown_grace_secs = 2;
        s.github.base_url = self.sim.url.clone();
        s.pipedrive.base_url = format!("{}/api/v2", self.sim.url);
        s.pipedrive.api_token = SecretString::from("sim-pipedrive-token".to_owned());
        s.gists.retry_base_ms = 100;
        s.gists.retry_cap_secs = 2;
        s.admin.token = SecretString::from(ADMIN_TOKEN.to_owned());
        s.topics.tracked = vec![Topic::parse(&self.load_topic)?];
        // Discovery rounds close together, so the graph cases' two
        // discoveries take seconds.
        s.graph.discover_interval_ms = 200;
        Ok(s)
    }

    fn replica(&self, n: usize) -> std::sync::MutexGuard<'_, Replica> {
        self.replicas[n - 1]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Stack for InProcess {
    fn nginx_url(&self) -> String {
        self.nginx.url()
    }

    fn replica_count(&self) -> usize {
        REPLICAS
    }

    fn replica_url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.replica(n).port)
    }

    fn sim_url(&self) -> String {
        self.sim.url.clone()
    }

    fn admin_token(&self) -> String {
        ADMIN_TOKEN.to_owned()
    }

    fn database_url(&self) -> String {
        self.pg_url.clone()
    }

    fn access_log(&self) -> Option<PathBuf> {
        Some(self.nginx.access_log())
    }

    async fn kill_replica(&self, n: usize) -> anyhow::Result<()> {
        let running = self.replica(n).running.take();
        if let Some((runtime, _, _)) = running {
            runtime.shutdown_background();
        }
        Ok(())
    }

    async fn stop_replica(&self, n: usize) -> anyhow::Result<()> {
        let running = self.replica(n).running.take();
        if let Some((runtime, shutdown, task)) = running {
            shutdown.cancel();
            let drained = tokio::time::timeout(Duration::from_secs(40), task).await;
            runtime.shutdown_background();
            if drained.is_err() {
                bail!("api-{n} did not drain within 40 s");
            }
        }
        Ok(())
    }

    async fn start_replica(&self, n: usize) -> anyhow::Result<()> {
        let (name, port) = {
            let replica = self.replica(n);
            if replica.running.is_some() {
                return Ok(());
            }
            (replica.name.clone(), replica.port)
        };
        let settings = self.settings(&name, port)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name.clone())
            .enable_all()
            .build()?;
        let shutdown = CancellationToken::new();
        let task = runtime.spawn({
            let shutdown = shutdown.clone();
            let name = name.clone();
            async move {
                // The port was just given up by the killed run: retry a
                // bind that races with its last connections closing.
                let app = (|| Application::build(settings.clone()))
                    .retry(Backoff::POLL.within(Duration::from_secs(5)))
                    .await
                    .unwrap_or_else(|err| panic!("{name} could not start: {err}"));
                app.run(shutdown).await;
            }
        });
        self.replica(n).running = Some((runtime, shutdown, task));
        wait_healthy(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30)).await
    }

    async fn stop_redis(&self) -> anyhow::Result<()> {
        self.redis.lock().await.stop();
        Ok(())
    }

    async fn start_redis(&self) -> anyhow::Result<()> {
        self.redis.lock().await.start().await
    }

    async fn stop_postgres(&self) -> anyhow::Result<()> {
        self.pg.lock().await.stop().await;
        Ok(())
    }

    async fn start_postgres(&self) -> anyhow::Result<()> {
        let url = self.pg_url.clone();
        // PrivatePostgres::start is not a no-op when it runs: ask first.
        if tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .is_err()
        {
            self.pg.lock().await.start().await;
        }
        Ok(())
    }
}

async fn run_case(case: Case) {
    let profile = Profile::quick();
    let stack = InProcess::start(&profile)
        .await
        .expect("the in-process stack starts");
    let reports = hubpulse_faults::run_suite(&stack, &profile, &[case])
        .await
        .expect("the suite sets up");
    let report = &reports[0];
    assert!(
        report.passed(),
        "{} failed:\n{}",
        report.case,
        report.failures().join("\n")
    );
    for n in 1..=REPLICAS {
        let _ = stack.stop_replica(n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_kill() {
    run_case(Case::ReplicaKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart() {
    run_case(Case::RollingRestart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down() {
    run_case(Case::RedisDown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down() {
    run_case(Case::PostgresDown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_faults() {
    run_case(Case::GithubFaults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_kill() {
    run_case(Case::WorkerKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood() {
    run_case(Case::Flood).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery() {
    run_case(Case::Delivery).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_kill() {
    run_case(Case::DiscoveryKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_faults() {
    run_case(Case::DiscoveryFaults).await;
}
