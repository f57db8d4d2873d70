//! `hubpulse-bench`: what `scripts/bench.sh` asks of the running stack, and
//! the report it ends with.
//!
//! ```text
//! hubpulse-bench prepare --base URL --token T --topics a,b     # track, crawl, wait
//! hubpulse-bench ingest --base URL --token T --topic big --sim URL --out ingest.json
//! hubpulse-bench orgstats --database-url URL --out orgstats.json   # 2,000 x 500 x 10 years
//! hubpulse-bench report --dir target/bench/raw --md report.md --json report.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hubpulse_loadtest::bench::{self, Report};

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
            for t in hubpulse_loadtest::orgstats::targets(&b) {
                eprintln!(
                    "  {} {}: {}",
                    if t.passed { "pass" } else { "FAIL" },
                    t.name,
                    t.measured
                );
            }
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
