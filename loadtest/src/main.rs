//! `hubpulse-loadtest SCENARIO [goose options]`: one goose run against nginx
//! (or any HubPulse address), judged by the scenario's thresholds. Exit
//! status 0 when every threshold holds, 1 when one does not, 2 when the run
//! could not be made.
//!
//! ```text
//! hubpulse-loadtest max -H http://127.0.0.1:8080 -t 20s
//! hubpulse-loadtest cached --threshold 'rps>=100000000'   # beyond reach: exits 1
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use goose::config::GooseConfiguration;
use hubpulse_domain::Topic;
use hubpulse_loadtest::{Plan, RedisTarget, Scenario, run};

#[derive(Parser)]
#[command(
    name = "hubpulse-loadtest",
    about = "Goose load tests of HubPulse's topic views, with pass/fail thresholds per scenario"
)]
struct Cli {
    /// What to run.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Topics whose views are read (warm scenarios; `max` reads the first).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kubernetes,rust,serverless"
    )]
    topics: Vec<String>,
    /// Topics the cold scenario drops from Redis and reads, one user each.
    #[arg(long, value_delimiter = ',')]
    cold_topics: Vec<String>,
    /// Admin bearer token, for `/update_cache` (refresh).
    #[arg(long)]
    admin_token: Option<String>,
    /// Seconds between two `/update_cache` calls (refresh).
    #[arg(long, default_value_t = 3)]
    refresh_every: u64,
    /// The replicas' Redis (cold).
    #[arg(long, default_value = "redis://127.0.0.1:56379")]
    redis_url: String,
    /// The replicas' `HUBPULSE__REDIS__KEY_PREFIX` (cold).
    #[arg(long, default_value = "hubpulse")]
    redis_prefix: String,
    /// The replicas' `HUBPULSE__VIEWS__PROCESS_TTL_MS` (cold).
    #[arg(long, default_value_t = 2000)]
    process_ttl_ms: u64,
    /// Requests/s of the open loop.
    #[arg(long, default_value_t = 1500)]
    rate: usize,
    /// Also writes the run's summary here, as JSON.
    #[arg(long, value_name = "PATH")]
    summary: Option<PathBuf>,
    #[command(flatten)]
    goose: GooseConfiguration,
}

fn topics(raw: &[String]) -> Result<Vec<Topic>, String> {
    raw.iter()
        .filter(|t| !t.is_empty())
        .map(|t| Topic::parse(t).map_err(|e| format!("{t:?}: {e}")))
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match (topics(&cli.topics), topics(&cli.cold_topics)) {
        (Ok(topics), Ok(cold_topics)) => Plan {
            topics,
            cold_topics,
            admin_token: cli.admin_token,
            refresh_every: Duration::from_secs(cli.refresh_every),
            redis: Some(RedisTarget {
                url: cli.redis_url,
                key_prefix: cli.redis_prefix,
            }),
            process_ttl: Duration::from_millis(cli.process_ttl_ms),
            rate: cli.rate,
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("hubpulse-loadtest: not a topic: {e}");
            return ExitCode::from(2);
        }
    };
    let summary = match run(cli.scenario, plan, cli.goose).await {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("hubpulse-loadtest: {err:#}");
            return ExitCode::from(2);
        }
    };
    eprintln!("{summary}");
    if let Some(path) = &cli.summary {
        let json = serde_json::to_vec_pretty(&summary).expect("a summary serializes");
        if let Err(err) = std::fs::write(path, json) {
            eprintln!("hubpulse-loadtest: writing {}: {err}", path.display());
            return ExitCode::from(2);
        }
    }
    if summary.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
