//! hubpulse-cron: waits until the API is ready (through nginx), then makes
//! the maintenance calls of `schedule.toml`, retrying failed calls with
//! backoff. A failed call is logged, never fatal: the scheduler outlives the
//! API's restarts.

mod runner;
mod schedule;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

fn config_path() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => Ok(std::env::var_os("HUBPULSE_CRON_CONFIG").map(PathBuf::from)),
        (Some(flag), Some(path)) if flag == "--config" => Ok(Some(PathBuf::from(path))),
        _ => Err("usage: hubpulse-cron [--config PATH]".into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let loaded = config_path().and_then(|path| {
        let settings = settings::Settings::load(path.as_deref()).map_err(|e| e.to_string())?;
        let calls = schedule::load(&settings.cron.schedule_file).map_err(|e| e.to_string())?;
        Ok((settings, calls))
    });
    let (settings, calls) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("hubpulse-cron: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = hubpulse_runtime::init_tracing(&settings.log) {
        eprintln!("hubpulse-cron: {err}");
        return ExitCode::from(2);
    }
    let runner = match runner::Runner::new(&settings) {
        Ok(runner) => runner,
        Err(err) => {
            eprintln!("hubpulse-cron: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        hubpulse_runtime::wait_for_signal().await;
        signal.cancel();
    });
    tracing::info!(base_url = %settings.cron.base_url, calls = calls.len(), "cron starting");
    runner.run(&calls, shutdown).await;
    ExitCode::SUCCESS
}
