//! What a case needs from the stack it breaks: where its members answer,
//! and how to stop and start each of them. `make faults` drives the real
//! local stack through `scripts/stack.sh` ([`crate::ScriptStack`]); the
//! crate's tests drive an in-process one built the same way.

use std::future::Future;
use std::path::PathBuf;

pub trait Stack: Send + Sync {
    /// nginx, where every client request goes.
    fn nginx_url(&self) -> String;
    /// How many API replicas sit behind nginx (`api-1` … `api-N`).
    fn replica_count(&self) -> usize;
    /// Replica `n`'s own address (1-based), bypassing nginx: for its
    /// `/metrics` and `/ready`.
    fn replica_url(&self, n: usize) -> String;
    /// The GitHub simulator the replicas crawl, with its `/_sim` admin routes.
    fn sim_url(&self) -> String;
    /// Bearer token of the maintenance routes.
    fn admin_token(&self) -> String;
    /// Where the SQL checks connect.
    fn database_url(&self) -> String;
    /// nginx's access log (JSON lines), read to count the requests nginx
    /// passed on to another replica.
    fn access_log(&self) -> Option<PathBuf>;

    /// SIGKILL, as a crash: no drain, leases left to expire.
    fn kill_replica(&self, n: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// SIGTERM and wait until it has drained and exited.
    fn stop_replica(&self, n: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Starts replica `n` again on its port and waits until it answers.
    fn start_replica(&self, n: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn stop_redis(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn start_redis(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn stop_postgres(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn start_postgres(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}
