//! hubpulse-cron: waits until the API is ready (through nginx), then makes
//! the maintenance calls of `schedule.toml`, retrying failed calls with
//! backoff. A failed call is logged, never fatal: the scheduler outlives the
//! API's restarts.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let (settings, calls) =
        match hubpulse_runtime::config_path("hubpulse-cron", "HUBPULSE_CRON_CONFIG")
            .and_then(|p| hubpulse_cron::load(p.as_deref()))
        {
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
    let runner = match hubpulse_cron::Runner::new(&settings) {
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
    tracing::info!(
        base_url = %settings.cron.base_url,
        schedule = %settings.cron.schedule_file.display(),
        calls = calls.len(),
        "cron starting"
    );
    runner.run(&calls, shutdown).await;
    tracing::info!("cron stopped");
    ExitCode::SUCCESS
}
