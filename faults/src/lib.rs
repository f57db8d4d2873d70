#![doc = include_str!("../README.md")]

pub mod cases;
pub mod clients;
pub mod graph;
pub mod load;
pub mod report;
mod script;
pub mod sql;
mod stack;

pub use cases::{Case, Profile};
pub use report::Report;
pub use script::ScriptStack;
pub use stack::Stack;

/// Sets up the stack, runs `cases` in order (each restores the stack after
/// itself), prints the summary; the reports say which passed.
pub async fn run_suite<S: Stack>(
    stack: &S,
    profile: &Profile,
    cases: &[Case],
) -> anyhow::Result<Vec<Report>> {
    report::print(&format!(
        "fault suite: {} case(s) against nginx at {}, {} replicas, simulator at {}",
        cases.len(),
        stack.nginx_url(),
        stack.replica_count(),
        stack.sim_url()
    ));
    cases::setup(stack, profile).await?;
    let mut reports = Vec::with_capacity(cases.len());
    for &case in cases {
        reports.push(cases::run(stack, profile, case).await);
    }
    report::print(&report::summary(&reports));
    Ok(reports)
}
