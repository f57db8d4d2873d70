//! A PostgreSQL primary with a real streaming replica, both the test's own:
//! a replica copies a whole server, so it cannot share the run's server the
//! way `TestDb` does. The replica is made the way an operator makes one,
//! `pg_basebackup -R` from the running primary, and streams from it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hubpulse_store::{DatabaseSettings, Store};
use secrecy::SecretString;
use tokio_postgres::NoTls;

use crate::free_port;
use crate::servers::{
    self, hold_users_lock, init_pg_data, is_root, pg_command, run, state_dir, stop_pg, try_start_pg,
};

/// The database both servers hold (the replica has every database of the primary).
const DATABASE: &str = "hubpulse";

pub struct TestReplicatedPostgres {
    primary: (PathBuf, u16),
    replica: (PathBuf, u16),
}

impl TestReplicatedPostgres {
    /// A primary with the migrated `hubpulse` database, and a replica
    /// streaming from it that has caught up with the migrations.
    pub async fn new() -> TestReplicatedPostgres {
        // The shared servers come with the reaper, which stops these two as
        // well (private-*/pg) if the test process dies before its drop runs.
        servers::shared().await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let state = state_dir();
        let primary_data = state.join(format!("private-{id}-primary")).join("pg");
        let replica_data = state.join(format!("private-{id}-replica")).join("pg");
        let primary_port = tokio::task::spawn_blocking({
            let data = primary_data.clone();
            move || {
                hold_users_lock(&state_dir());
                init_pg_data(&data);
                start_on_a_free_port(&data)
            }
        })
        .await
        .expect("primary start-up");
        let mut pair = TestReplicatedPostgres {
            primary: (primary_data, primary_port),
            replica: (replica_data.clone(), 0),
        };
        pair.admin(primary_port)
            .await
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .expect("create the database on the primary");
        Store::connect(&pair.primary_settings())
            .expect("a store on the primary")
            .migrate()
            .await
            .expect("migrate the primary");

        let replica_port = tokio::task::spawn_blocking(move || {
            base_backup(primary_port, &replica_data);
            start_on_a_free_port(&replica_data)
        })
        .await
        .expect("replica start-up");
        pair.replica.1 = replica_port;
        let replica = pair.admin(replica_port).await;
        let in_recovery: bool = replica
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .expect("ask the replica")
            .get(0);
        assert!(in_recovery, "the replica is a standby");
        pair.wait_caught_up().await;
        pair
    }

    pub fn primary_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{DATABASE}",
            self.primary.1
        )
    }

    pub fn replica_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{DATABASE}",
            self.replica.1
        )
    }

    /// The test settings' pool sizes and timeouts, on the primary, with no
    /// read URL: the caller sets `read_url` when it wants the replica used.
    pub fn primary_settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: SecretString::from(self.primary_url()),
            read_url: None,
            ..crate::db::settings_for(String::new())
        }
    }

    /// A plain client on the primary's database.
    pub async fn primary(&self) -> tokio_postgres::Client {
        connect(&self.primary_url()).await
    }

    /// A plain client on the replica's database (read-only).
    pub async fn replica(&self) -> tokio_postgres::Client {
        connect(&self.replica_url()).await
    }

    /// Stops applying the primary's changes on the replica (it keeps
    /// answering, from what it has): whatever is written meanwhile is on
    /// the primary only, which is how a test tells who answered a read.
    pub async fn pause_replay(&self) {
        self.replica()
            .await
            .batch_execute("SELECT pg_wal_replay_pause()")
            .await
            .expect("pause replay");
    }

    pub async fn resume_replay(&self) {
        self.replica()
            .await
            .batch_execute("SELECT pg_wal_replay_resume()")
            .await
            .expect("resume replay");
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    pub async fn wait_caught_up(&self) {
        let target: String = self
            .primary()
            .await
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .expect("the primary's WAL position")
            .get(0);
        let replica = self.replica().await;
        crate::eventually(
            "the replica replaying up to the primary's WAL position",
            Duration::from_secs(20),
            || {
                let (replica, target) = (&replica, &target);
                async move {
                    let caught_up: bool = replica
                        .query_one(
                            "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                            &[target],
                        )
                        .await
                        .map_err(|e| e.to_string())?
                        .get(0);
                    if caught_up {
                        Ok(())
                    } else {
                        Err("behind".to_owned())
                    }
                }
            },
        )
        .await;
    }

    async fn admin(&self, port: u16) -> tokio_postgres::Client {
        connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).await
    }
}

impl Drop for TestReplicatedPostgres {
    fn drop(&mut self) {
        for (data, _) in [&self.replica, &self.primary] {
            stop_pg(data, "immediate");
            if let Some(dir) = data.parent() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to a test postgres: {e}"));
    tokio::spawn(conn);
    client
}

fn start_on_a_free_port(data: &Path) -> u16 {
    let mut tries = 1;
    loop {
        let port = free_port();
        match try_start_pg(data, port) {
            Ok(()) => return port,
            // Another process may have taken the port since we looked.
            Err(err) => assert!(tries < 3, "{err}"),
        }
        tries += 1;
    }
}

/// `pg_basebackup -R`: a copy of the running primary that starts as a
/// standby (standby.signal, and primary_conninfo in postgresql.auto.conf),
/// streaming the WAL written during the copy so it is consistent.
fn base_backup(primary_port: u16, data: &Path) {
    let _ = fs::remove_dir_all(data);
    fs::create_dir_all(data).expect("create the replica data dir");
    if is_root() {
        run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.parent().unwrap_or(data)),
            "chown the replica data dir",
        );
    }
    run(
        Command::new("chmod").arg("0700").arg(data),
        "chmod the replica data dir",
    );
    run(
        pg_command("pg_basebackup")
            .args(["-h", "127.0.0.1", "-p", &primary_port.to_string()])
            .args(["-U", "postgres", "-D"])
            .arg(data)
            .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]),
        "pg_basebackup",
    );
    // The copy carries the primary's log; the replica starts its own.
    let _ = fs::remove_file(data.join("server.log"));
}
