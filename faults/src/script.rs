//! The real local stack, driven through `scripts/stack.sh`: its addresses
//! come from the variables `scripts/faults.sh` exports (the same ones the
//! stack was started with), and every stop or start is a `stack.sh`
//! subcommand, so the suite breaks the stack exactly the way an operator
//! would.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::Stack;

#[derive(Debug, Clone)]
pub struct ScriptStack {
    root: PathBuf,
    stack_dir: PathBuf,
    nginx_port: u16,
    api_base_port: u16,
    replicas: usize,
    sim_port: u16,
    pg_port: u16,
    db_password: String,
    admin_token: String,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the suite through scripts/faults.sh (make faults)")
    })
}

fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<T> {
    var(name)?
        .parse()
        .map_err(|_| anyhow::anyhow!("{name} is not a number"))
}

impl ScriptStack {
    /// From the environment `scripts/faults.sh` sets up; `root` is the
    /// checkout (where `scripts/stack.sh` is).
    pub fn from_env(root: PathBuf) -> anyhow::Result<ScriptStack> {
        let stack_dir = PathBuf::from(var("HUBPULSE_STACK_DIR")?);
        let stack_dir = if stack_dir.is_absolute() {
            stack_dir
        } else {
            root.join(stack_dir)
        };
        if !root.join("scripts/stack.sh").is_file() {
            bail!("{} has no scripts/stack.sh", root.display());
        }
        Ok(ScriptStack {
            stack_dir,
            nginx_port: number("HUBPULSE_NGINX_PORT")?,
            api_base_port: number("HUBPULSE_API_BASE_PORT")?,
            replicas: number("REPLICAS")?,
            sim_port: number("HUBPULSE_SIM_PORT")?,
            pg_port: number("HUBPULSE_PG_PORT")?,
            db_password: var("HUBPULSE_DB_PASSWORD")?,
            admin_token: var("HUBPULSE__ADMIN__TOKEN")?,
            root,
        })
    }

    /// `scripts/stack.sh ARGS…`; its own lines are shown indented.
    async fn stack_sh(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = tokio::process::Command::new(self.root.join("scripts/stack.sh"))
            .args(args)
            .current_dir(&self.root)
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("running scripts/stack.sh {}", args.join(" ")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<String> = text
            .lines()
            .map(|line| line.replace("\x1b[1m", "").replace("\x1b[0m", ""))
            .filter(|line| !line.trim().is_empty())
            .collect();
        // Restoring a member that runs is a no-op; saying so is noise.
        let quiet = |line: &String| line.contains("already running");
        if !output.status.success() {
            bail!(
                "scripts/stack.sh {} failed ({}): {}",
                args.join(" "),
                output.status,
                lines.join(" | ")
            );
        }
        for line in lines.iter().filter(|l| !quiet(l)) {
            crate::report::print(&format!("   · {line}"));
        }
        Ok(())
    }
}

impl Stack for ScriptStack {
    fn nginx_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.nginx_port)
    }

    fn replica_count(&self) -> usize {
        self.replicas
    }

    fn replica_url(&self, n: usize) -> String {
        format!(
            "http://127.0.0.1:{}",
            usize::from(self.api_base_port) + n - 1
        )
    }

    fn sim_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sim_port)
    }

    fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    fn database_url(&self) -> String {
        format!(
            "postgres://hubpulse:{}@127.0.0.1:{}/hubpulse",
            self.db_password, self.pg_port
        )
    }

    fn access_log(&self) -> Option<PathBuf> {
        Some(self.stack_dir.join("nginx/access.log"))
    }

    async fn kill_replica(&self, n: usize) -> anyhow::Result<()> {
        self.stack_sh(&["stop-replica", &n.to_string(), "--kill"])
            .await
    }

    async fn stop_replica(&self, n: usize) -> anyhow::Result<()> {
        self.stack_sh(&["stop-replica", &n.to_string()]).await
    }

    async fn start_replica(&self, n: usize) -> anyhow::Result<()> {
        self.stack_sh(&["start-replica", &n.to_string()]).await
    }

    async fn stop_redis(&self) -> anyhow::Result<()> {
        self.stack_sh(&["stop-redis"]).await
    }

    async fn start_redis(&self) -> anyhow::Result<()> {
        self.stack_sh(&["start-redis"]).await
    }

    async fn stop_postgres(&self) -> anyhow::Result<()> {
        self.stack_sh(&["stop-postgres"]).await
    }

    async fn start_postgres(&self) -> anyhow::Result<()> {
        self.stack_sh(&["start-postgres"]).await
    }
}
