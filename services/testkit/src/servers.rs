//! Private PostgreSQL and Redis, started once per test run and shared by
//! every test process of the run (cargo-nextest runs each test in its own
//! process), then stopped by a reaper once no test process is left.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::free_port;

/// Ports of the shared servers and the name of the migrated template.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub pg_port: u16,
    pub redis_port: u16,
    pub template: String,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
/// Held (shared) for the life of the process: the reaper's sign that a test is running.
static USERS_LOCK: OnceLock<File> = OnceLock::new();
static START: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const IDLE_SECS_BEFORE_REAP: u32 = 4;

pub(crate) fn state_dir() -> PathBuf {
    let workspace = env!("CARGO_MANIFEST_DIR");
    let digest = Sha256::digest(workspace.as_bytes());
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "x".into());
    PathBuf::from(format!(
        "/tmp/hubpulse-testkit-{uid}-{}",
        &hex::encode(digest)[..10]
    ))
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

pub(crate) fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin.join(name),
        None => panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: run scripts/install-deps.sh"
        ),
    }
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (the
/// server refuses root), else as ourselves.
pub(crate) fn pg_command(tool: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
        cmd
    } else {
        Command::new(pg_bin(tool))
    }
}

pub(crate) fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

pub(crate) fn pg_answers(port: u16) -> bool {
    Command::new(pg_bin("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Creates a data directory the server's user owns and initialises it.
pub(crate) fn init_pg_data(data: &Path) {
    let _ = fs::remove_dir_all(data);
    fs::create_dir_all(data).expect("create the postgres data dir");
    if is_root() {
        run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data),
            "chown data dir",
        );
    }
    run(
        pg_command("initdb").args(["-D"]).arg(data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]),
        "initdb",
    );
}

pub(crate) fn start_pg(data: &Path, port: u16) {
    if let Err(err) = try_start_pg(data, port) {
        panic!("{err}");
    }
}

/// Starts a server on `port`; fails (rather than panics) so that a caller
/// whose free port was taken meanwhile can try another.
pub(crate) fn try_start_pg(data: &Path, port: u16) -> Result<(), String> {
    let options = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
         -c shared_buffers=128MB",
        data.display()
    );
    let out = pg_command("pg_ctl")
        .arg("-D")
        .arg(data)
        .args(["-l"])
        .arg(data.join("server.log"))
        .args(["-w", "-t", "30", "-o", &options, "start"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pg_ctl start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let log = fs::read_to_string(data.join("server.log")).unwrap_or_default();
    Err(format!(
        "pg_ctl start on port {port} failed: {}{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

pub(crate) fn stop_pg(data: &Path, mode: &str) {
    let _ = pg_command("pg_ctl")
        .arg("-D")
        .arg(data)
        .args(["-m", mode, "-w", "stop"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn start_redis(dir: &Path, port: u16) {
    fs::create_dir_all(dir).expect("create the redis dir");
    let redis = which("redis-server")
        .unwrap_or_else(|| panic!("redis-server not found: run scripts/install-deps.sh"));
    run(
        Command::new(redis)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
            .arg("--dir")
            .arg(dir)
            .arg("--pidfile")
            .arg(dir.join("redis.pid"))
            .arg("--logfile")
            .arg(dir.join("redis.log")),
        "redis-server",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis_answers(port) {
        assert!(
            Instant::now() < deadline,
            "redis did not answer PING on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .chain([
            PathBuf::from("/usr/bin").join(name),
            PathBuf::from("/usr/sbin").join(name),
        ])
        .find(|p| p.exists())
}

/// The migrations this build applies, hashed: the template is named after
/// them, so a changed migration makes a new template.
fn migrations_hash() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../db/migrations");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("db/migrations exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update(fs::read(&file).expect("read a migration"));
    }
    hex::encode(hasher.finalize())[..12].to_owned()
}

fn read_state(path: &Path) -> Option<(u16, u16)> {
    let text = fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn lock_file(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Writes the stop script and starts the reaper: a detached `sh` loop that,
/// once `users.lock` has been free for a few seconds (no test process left),
/// takes it exclusively and stops everything while holding it, so a test that
/// starts meanwhile waits and then starts fresh servers.
fn spawn_reaper(dir: &Path, redis_port: u16) {
    let as_pg = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    // reaper.pid goes first, under the lock: whoever starts servers after
    // this must spawn a reaper of its own, even while this one is exiting.
    let stop = format!(
        "cd {dir} || exit 0\n\
         rm -f reaper.pid\n\
         for data in pg private-*/pg; do\n\
         \x20 [ -d \"$data\" ] && {as_pg}{pg_ctl} -D \"$data\" -m immediate -w stop >/dev/null 2>&1\n\
         done\n\
         redis-cli -p {redis_port} shutdown nosave >/dev/null 2>&1\n\
         for pid in private-*/*/redis.pid; do\n\
         \x20 [ -f \"$pid\" ] && kill \"$(cat \"$pid\")\" >/dev/null 2>&1\n\
         done\n\
         rm -rf pg redis state private-*\n",
        dir = dir.display(),
        pg_ctl = pg_bin("pg_ctl").display(),
    );
    let reaper = format!(
        "cd {dir} || exit 0\n\
         echo $$ > reaper.pid\n\
         idle=0\n\
         while :; do\n\
         \x20 sleep 1\n\
         \x20 if flock -n -x users.lock true; then idle=$((idle+1)); else idle=0; fi\n\
         \x20 if [ $idle -ge {IDLE_SECS_BEFORE_REAP} ]; then\n\
         \x20   if flock -n -x users.lock sh stop.sh; then exit 0; fi\n\
         \x20   idle=0\n\
         \x20 fi\n\
         done\n",
        dir = dir.display(),
    );
    fs::write(dir.join("stop.sh"), stop).expect("write the testkit stop script");
    fs::write(dir.join("reaper.sh"), reaper).expect("write the testkit reaper script");
    // `setsid -f` forks and returns at once: the reaper outlives this
    // process, in a session of its own, and leaves no zombie behind.
    run(
        Command::new("setsid")
            .arg("-f")
            .arg("sh")
            .arg(dir.join("reaper.sh"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "spawn the testkit reaper",
    );
}

fn reaper_alive(dir: &Path) -> bool {
    // The command line, not just the pid: a pid can be reused.
    fs::read_to_string(dir.join("reaper.pid"))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .and_then(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
        .is_some_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("reaper.sh"))
}

/// Stops servers a crashed run left behind, by pid file rather than by
/// port: the port may belong to someone else by now.
fn stop_stale(dir: &Path) {
    stop_pg(&dir.join("pg"), "immediate");
    if let Some(pid) = fs::read_to_string(dir.join("redis/redis.pid"))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
    {
        let _ = Command::new("kill")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The shared servers, started if this is the first test process of the run.
pub(crate) async fn shared() -> Shared {
    if let Some(shared) = SHARED.get() {
        return shared.clone();
    }
    let _guard = START.lock().await;
    if let Some(shared) = SHARED.get() {
        return shared.clone();
    }
    // File locks and server start-up block: keep them off the runtime.
    let (start_lock, pg_port, redis_port) = tokio::task::spawn_blocking(start_or_join)
        .await
        .expect("testkit start-up");
    let template = format!("tpl_{}", migrations_hash());
    crate::db::ensure_template(pg_port, &template).await;
    drop(start_lock);

    let shared = Shared {
        pg_port,
        redis_port,
        template,
    };
    let _ = SHARED.set(shared.clone());
    shared
}

/// Marks this process as a live test for the reaper, for its whole life.
pub(crate) fn hold_users_lock(dir: &Path) {
    USERS_LOCK.get_or_init(|| {
        let users = lock_file(&dir.join("users.lock"));
        users.lock_shared().expect("take the shared users lock");
        users
    });
}

/// Joins the run's servers, starting them if nobody has; returns the start
/// lock still held, so the caller can prepare the template under it.
fn start_or_join() -> (File, u16, u16) {
    let dir = state_dir();
    fs::create_dir_all(&dir).expect("create the testkit state dir");
    hold_users_lock(&dir);

    let start_lock = lock_file(&dir.join("start.lock"));
    start_lock.lock().expect("take the start lock");
    let state_path = dir.join("state");
    let (pg_port, redis_port) = match read_state(&state_path) {
        Some((pg, redis)) if pg_answers(pg) && redis_answers(redis) => (pg, redis),
        stale => {
            if stale.is_some() {
                stop_stale(&dir);
            }
            let _ = fs::remove_dir_all(dir.join("redis"));
            init_pg_data(&dir.join("pg"));
            let mut pg_port = free_port();
            let mut tries = 1;
            while let Err(err) = try_start_pg(&dir.join("pg"), pg_port) {
                // Another process may have taken the port since we looked.
                assert!(tries < 3, "{err}");
                tries += 1;
                pg_port = free_port();
            }
            let redis_port = free_port();
            start_redis(&dir.join("redis"), redis_port);
            fs::write(&state_path, format!("{pg_port} {redis_port}\n"))
                .expect("write testkit state");
            (pg_port, redis_port)
        }
    };
    if !reaper_alive(&dir) {
        spawn_reaper(&dir, redis_port);
    }
    (start_lock, pg_port, redis_port)
}

/// A throwaway PostgreSQL of the test's own, for tests that stop and start
/// it; stopped and deleted on drop.
pub struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
}

pub async fn private_postgres() -> PrivatePostgres {
    let state = state_dir();
    let dir = state.join(format!("private-{}", uuid::Uuid::new_v4().simple()));
    let data = dir.join("pg");
    let port = tokio::task::spawn_blocking({
        let data = data.clone();
        move || {
            fs::create_dir_all(&state).expect("create the testkit state dir");
            // The reaper deletes private instances too, so this process
            // must count as a live test.
            hold_users_lock(&state);
            init_pg_data(&data);
            let mut tries = 1;
            loop {
                let port = free_port();
                match try_start_pg(&data, port) {
                    Ok(()) => return port,
                    Err(err) => assert!(tries < 3, "{err}"),
                }
                tries += 1;
            }
        }
    })
    .await
    .expect("private postgres start");
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to private postgres");
    tokio::spawn(conn);
    client
        .batch_execute("CREATE DATABASE hubpulse")
        .await
        .expect("create database");
    PrivatePostgres { dir, port }
}

impl PrivatePostgres {
    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/hubpulse", self.port)
    }

    pub async fn stop(&mut self) {
        let data = self.dir.join("pg");
        tokio::task::spawn_blocking(move || stop_pg(&data, "fast"))
            .await
            .expect("stop");
    }

    pub async fn start(&mut self) {
        let data = self.dir.join("pg");
        let port = self.port;
        tokio::task::spawn_blocking(move || start_pg(&data, port))
            .await
            .expect("start");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        stop_pg(&self.dir.join("pg"), "immediate");
        let _ = fs::remove_dir_all(&self.dir);
    }
}
