use std::process::ExitCode;

use hubpulse_sim::{BinSettings, DEFAULTS};

#[tokio::main]
async fn main() -> ExitCode {
    let loaded =
        hubpulse_runtime::config_path("hubpulse-sim", "HUBPULSE_SIM_CONFIG").and_then(|path| {
            hubpulse_runtime::load_settings::<BinSettings>(DEFAULTS, path.as_deref())
                .map_err(|e| e.to_string())
        });
    let settings = match loaded {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("hubpulse-sim: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = hubpulse_runtime::init_tracing(&settings.log) {
        eprintln!("hubpulse-sim: {err}");
        return ExitCode::from(2);
    }
    let addr = format!("{}:{}", settings.sim.host, settings.sim.port);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("hubpulse-sim: binding {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match hubpulse_sim::run(listener, settings.sim, hubpulse_runtime::wait_for_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hubpulse-sim: {err}");
            ExitCode::FAILURE
        }
    }
}
