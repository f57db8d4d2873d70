use std::process::ExitCode;

use hubpulse_api::{Application, Settings};
use tokio_util::sync::CancellationToken;

/// jemalloc: glibc's malloc and free were a sixth of a cached read's
/// instructions (scripts/callgrind.sh), and glibc kept what the view builds'
/// compression freed (peak RSS). Its options are baked in at build time
/// (.cargo/config.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let settings = match hubpulse_runtime::config_path("hubpulse-api", "HUBPULSE_CONFIG")
        .and_then(|path| Settings::load(path.as_deref()).map_err(|e| e.to_string()))
    {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("hubpulse-api: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = hubpulse_runtime::init_tracing(&settings.log) {
        eprintln!("hubpulse-api: {err}");
        return ExitCode::from(2);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if settings.server.worker_threads > 0 {
        runtime.worker_threads(settings.server.worker_threads);
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(settings)),
        Err(err) => {
            eprintln!("hubpulse-api: starting the runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> ExitCode {
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            eprintln!("hubpulse-api: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        hubpulse_runtime::wait_for_signal().await;
        signal.cancel();
    });
    app.run(shutdown).await;
    ExitCode::SUCCESS
}
