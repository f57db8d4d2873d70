//! `hubpulse-bench`: what `scripts/bench.sh` asks of the running stack, and
//! the report it ends with.
//!
//! ```text
//! hubpulse-bench prepare --base URL --token T --topics a,b     # track, crawl, wait
//! hubpulse-bench ingest --base URL --token T --topic big --sim URL --out ingest.json
//! hubpulse-bench orgstats --database-url URL --out orgstats.json   # 2,000 x 500 x 10 years
//! hubpulse-bench discovery --base URL --token T --sim URL --database-url URL --out discovery.json
//! hubpulse-bench graphgen --database-url URL --developers 1000000 --repositories 1000000 --edges 10000000
//! hubpulse-bench graphlists --base URL --database-url URL --replica api-1=PID --out graphlists.json
//! hubpulse-bench report --dir target/bench/raw --md report.md --json report.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hubpulse_loadtest::bench::{self, Report, Target};
use hubpulse_loadtest::graphgen::GraphShape;
use hubpulse_loadtest::{discovery, graphlists, graphload};

#[derive(Parser)]
#[command(name = "hubpulse-bench", about = "The helpers of make bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tracks the topics, crawls every tracked topic, waits for the crawls.
    Prepare {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Crawls one topic and times it from its job's timestamps.
    Ingest {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        topic: String,
        /// The simulator, to measure its own speed afterwards.
        #[arg(long)]
        sim: Option<String>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Organisation statistics: a full computation, then a re-sync with one
    /// new contributor (writes rows of its own under ids 990,000,000+).
    Orgstats {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 2000)]
        repositories: usize,
        #[arg(long, default_value_t = 500)]
        contributors: usize,
        #[arg(long, default_value_t = 10)]
        years: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Developer discovery over the simulator's graph from one seed: calls
    /// against the minimum, again inside the staleness window, and after it.
    Discovery {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        sim: String,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value = "graph-seed")]
        seed: String,
        /// Syncs one discovery round queues.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        #[arg(long, default_value_t = 1200)]
        timeout_secs: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Loads a synthetic developer graph with COPY (ids above 1,000,000,000).
    Graphgen {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        developers: u64,
        #[arg(long, default_value_t = 1_000_000)]
        repositories: u64,
        #[arg(long, default_value_t = 10_000_000)]
        edges: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every order and two filters of the graph's lists, page 1 and page
    /// 10,000, through nginx; each replica's memory before and after.
    Graphlists {
        #[arg(long)]
        base: String,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 30)]
        per_page: u64,
        /// Measured requests per list and page.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// A replica whose memory is recorded, as NAME=PID (repeatable).
        #[arg(long)]
        replica: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the table, writes it as Markdown and JSON; exits 1 on a missed target.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        md: PathBuf,
        #[arg(long)]
        json: PathBuf,
    },
}

async fn main_result(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Prepare {
            base,
            token,
            topics,
            timeout_secs,
        } => {
            let api = bench::api(&base, &token)?;
            bench::prepare(&api, &topics, Duration::from_secs(timeout_secs)).await?;
            Ok(true)
        }
        Command::Ingest {
            base,
            token,
            topic,
            sim,
            out,
            timeout_secs,
        } => {
            let api = bench::api(&base, &token)?;
            let mut ingest = bench::ingest(&api, &topic, Duration::from_secs(timeout_secs)).await?;
            if let Some(sim) = sim {
                ingest.sim_repos_per_s =
                    Some(bench::sim_speed(&sim, &topic, Duration::from_secs(3)).await?);
            }
            eprintln!(
                "  {} repositories in {:.2} s from job start to views ready: {:.0}/s ({} GitHub calls, {} attempt(s)){}",
                ingest.repositories,
                ingest.seconds,
                ingest.repos_per_s,
                ingest.github_calls,
                ingest.attempts,
                ingest
                    .sim_repos_per_s
                    .map(|s| format!("; the simulator alone serves {s:.0}/s"))
                    .unwrap_or_default()
            );
            std::fs::write(&out, serde_json::to_vec_pretty(&ingest)?)?;
            Ok(true)
        }
        Command::Orgstats {
            database_url,
            repositories,
            contributors,
            years,
            out,
        } => {
            let shape = hubpulse_loadtest::orgstats::Shape {
                repositories,
                contributors,
                years,
            };
            let b = hubpulse_loadtest::orgstats::run(&database_url, shape).await?;
            print_targets(&hubpulse_loadtest::orgstats::targets(&b));
            std::fs::write(&out, serde_json::to_vec_pretty(&b)?)?;
            Ok(true)
        }
        Command::Discovery {
            base,
            token,
            sim,
            database_url,
            seed,
            batch,
            timeout_secs,
            out,
        } => {
            let api = bench::api(&base, &token)?;
            let within = Duration::from_secs(timeout_secs);
            let b = discovery::run(&api, &sim, &database_url, &seed, batch, within).await?;
            print_targets(&discovery::targets(&b));
            std::fs::write(&out, serde_json::to_vec_pretty(&b)?)?;
            Ok(true)
        }
        Command::Graphgen {
            database_url,
            developers,
            repositories,
            edges,
            seed,
            out,
        } => {
            let shape = GraphShape {
                developers,
                repositories,
                edges,
                seed,
            };
            let load = graphload::load(&database_url, shape).await?;
            print_targets(&graphload::targets(&load));
            if let Some(out) = out {
                std::fs::write(&out, serde_json::to_vec_pretty(&load)?)?;
            }
            Ok(true)
        }
        Command::Graphlists {
            base,
            database_url,
            per_page,
            requests,
            replica,
            out,
        } => {
            let replicas = replica
                .iter()
                .map(|r| {
                    r.split_once('=')
                        .and_then(|(name, pid)| Some((name.to_owned(), pid.parse().ok()?)))
                        .with_context(|| format!("--replica {r:?} is not NAME=PID"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let b = graphlists::run(&base, &database_url, per_page, requests, &replicas).await?;
            print_targets(&graphlists::targets(&b));
            std::fs::write(&out, serde_json::to_vec_pretty(&b)?)?;
            Ok(true)
        }
        Command::Report { dir, md, json } => {
            let report = Report::load(&dir)?;
            let text = report.markdown();
            eprintln!("\n{text}");
            std::fs::write(&md, &text)?;
            std::fs::write(&json, serde_json::to_vec_pretty(&report)?)?;
            Ok(report.passed)
        }
    }
}

fn print_targets(targets: &[Target]) {
    for t in targets {
        eprintln!(
            "  {} {}: {}",
            if t.passed { "pass" } else { "FAIL" },
            t.name,
            t.measured
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_result(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("hubpulse-bench: {err:#}");
            ExitCode::from(2)
        }
    }
}
