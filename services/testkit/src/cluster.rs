//! A real three-primary Redis Cluster of the test's own: Debian's
//! `redis-server` in cluster mode on loopback ports, joined by
//! `redis-cli --cluster create`, stopped and deleted on drop (and by the
//! reaper, should the test process die first).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::free_port;
use crate::servers::{self, hold_users_lock, redis_answers, run, state_dir, which};

const PRIMARIES: usize = 3;

pub struct TestRedisCluster {
    dir: PathBuf,
    ports: Vec<u16>,
    key_prefix: String,
}

impl TestRedisCluster {
    /// Starts three primaries, hands them the 16384 slots, and returns once
    /// every node says `cluster_state:ok` (about two seconds).
    pub async fn new() -> TestRedisCluster {
        // The shared servers come with the reaper, which also stops this
        // cluster if the test process is killed before its drop runs.
        servers::shared().await;
        let dir = state_dir().join(format!("private-{}", uuid::Uuid::new_v4().simple()));
        let ports = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || start(&dir)
        })
        .await
        .expect("redis cluster start-up");
        TestRedisCluster {
            dir,
            ports,
            key_prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// fred's cluster URL: one node to connect to, the others as fallbacks;
    /// the client learns the slot map from whichever answers.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.ports[0],
            nodes.join("&")
        )
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The port of the primary that holds `key`'s slot.
    pub fn owner_of(&self, key: &str) -> u16 {
        let slot: u16 = redis_cli(self.ports[0], &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        // `id 127.0.0.1:port@bus flags primary ping pong epoch state slots...`
        redis_cli(self.ports[0], &["CLUSTER", "NODES"])
            .lines()
            .find(|line| serves(line, slot))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|addr| addr.split(['@', ',']).next())
            .and_then(|addr| addr.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("no primary serves slot {slot}"))
    }

    /// A cache client on this cluster and key prefix, once it answers.
    pub async fn cache(&self) -> hubpulse_cache::Cache {
        let cache = hubpulse_cache::Cache::connect(&hubpulse_cache::RedisSettings {
            url: SecretString::from(self.url()),
            key_prefix: self.key_prefix.clone(),
            pool_size: 2,
            connect_timeout_ms: 1_000,
            command_timeout_ms: 2_000,
        })
        .expect("a cache client for the test Redis Cluster");
        crate::eventually(
            "the test Redis Cluster answering",
            Duration::from_secs(10),
            || {
                let cache = cache.clone();
                async move { cache.ping().await.map_err(|e| e.to_string()) }
            },
        )
        .await;
        assert!(
            cache.is_clustered(),
            "the client took the URL for a cluster"
        );
        cache
    }
}

impl Drop for TestRedisCluster {
    fn drop(&mut self) {
        for port in &self.ports {
            let _ = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "shutdown", "nosave"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A `CLUSTER NODES` line's slot ranges (`0-5460 10923`) include `slot`.
fn serves(line: &str, slot: u16) -> bool {
    line.split_whitespace().skip(8).any(|range| {
        let (from, to) = range.split_once('-').unwrap_or((range, range));
        matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
    })
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(dir: &Path) -> Vec<u16> {
    fs::create_dir_all(dir).expect("create the cluster dir");
    // The reaper deletes private-* too: this process must count as a live test.
    hold_users_lock(&state_dir());
    let redis = which("redis-server")
        .unwrap_or_else(|| panic!("redis-server not found: run scripts/install-deps.sh"));
    let mut ports = Vec::with_capacity(PRIMARIES);
    for i in 0..PRIMARIES {
        let node = dir.join(format!("node-{i}"));
        fs::create_dir_all(&node).expect("create a cluster node dir");
        // The bus port is set, not derived (port + 10000 may not exist).
        let (port, bus) = (free_port(), free_port());
        run(
            Command::new(&redis)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .arg("--cluster-config-file")
                .arg(node.join("nodes.conf"))
                .args(["--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
                .arg("--dir")
                .arg(&node)
                .arg("--pidfile")
                .arg(node.join("redis.pid"))
                .arg("--logfile")
                .arg(node.join("redis.log")),
            "redis-server in cluster mode",
        );
        ports.push(port);
    }
    for port in &ports {
        wait_until(Duration::from_secs(10), &format!("redis on {port}"), || {
            redis_answers(*port)
        });
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    run(
        Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"]),
        "redis-cli --cluster create",
    );
    for port in &ports {
        wait_until(
            Duration::from_secs(20),
            &format!("cluster_state:ok on {port}"),
            || redis_cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
        );
    }
    ports
}

fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
