use std::process::ExitCode;

use hubpulse_faults::{Case, Profile, ScriptStack};

const USAGE: &str = "usage: hubpulse-faults [CASE...]   run the cases (all by default) against the stack of scripts/faults.sh
       hubpulse-faults --list       the cases
       hubpulse-faults sim-config   the simulator settings the suite expects (TOML)";

fn fail(message: &str) -> ExitCode {
    eprintln!("hubpulse-faults: {message}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = Profile::full();
    match args.first().map(String::as_str) {
        Some("sim-config") => {
            hubpulse_faults::report::print(profile.sim_config().trim_end());
            return ExitCode::SUCCESS;
        }
        Some("--list") => {
            for case in Case::ALL {
                hubpulse_faults::report::print(&format!("{:<16} {}", case.name(), case.summary()));
            }
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            hubpulse_faults::report::print(USAGE);
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let mut cases = Vec::new();
    for name in &args {
        match Case::parse(name) {
            Some(case) => cases.push(case),
            None => return fail(&format!("no case {name:?}\n{USAGE}")),
        }
    }
    if cases.is_empty() {
        cases = Case::ALL.to_vec();
    }
    let root = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(err) => return fail(&format!("no working directory: {err}")),
    };
    let stack = match ScriptStack::from_env(root) {
        Ok(stack) => stack,
        Err(err) => return fail(&format!("{err:#}")),
    };
    match hubpulse_faults::run_suite(&stack, &profile, &cases).await {
        Ok(reports) if reports.iter().all(|r| r.passed()) => ExitCode::SUCCESS,
        Ok(reports) => {
            for r in reports.iter().filter(|r| !r.passed()) {
                for failure in r.failures() {
                    eprintln!("FAIL {}: {failure}", r.case);
                }
            }
            ExitCode::FAILURE
        }
        Err(err) => fail(&format!("setting up the suite: {err:#}")),
    }
}
