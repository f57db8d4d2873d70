//! schemathesis against the API's own `/openapi.json`: generated requests for
//! every documented operation, admin ones included (the admin token goes in
//! as a header), with a fixed seed and a bounded number of examples. Fails,
//! printing schemathesis's report, when any reply is a 5xx or does not match
//! what the document says of it: its status, its content type or its schema.
//!
//! schemathesis comes from PyPI through `scripts/install-schemathesis.sh`
//! (a pinned version in a venv under target/tools), run first here so that
//! `make test` installs it on a fresh machine; a second run finds it there.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim};

/// Same seed, same requests: a failure here reproduces with the command it prints.
const SEED: &str = "20261123";
/// Test cases per operation and phase (17 operations, about 560 requests).
const MAX_EXAMPLES: &str = "60";
/// About 10 s here; a run still going after this is stopped and fails.
const KILL_AFTER: Duration = Duration::from_secs(100);

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,\
                      negative_data_rejection,positive_data_acceptance";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the install script (a no-op when installed) and returns the CLI's path.
fn install() -> PathBuf {
    let out = Command::new("bash")
        .arg(workspace().join("scripts/install-schemathesis.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/install-schemathesis.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "installing schemathesis failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(cli.exists(), "the script printed no CLI path: {stdout:?}");
    cli
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented_and_never_5xx() {
    let cli = tokio::task::spawn_blocking(install).await.unwrap();
    // Admin calls queue crawls: they go to a simulator, never to GitHub.
    // Tracking a gist user looks its id up on GitHub: quota for every example.
    let sim = TestSim::spawn_with(|s| {
        s.limits.search_authenticated = 100_000;
        s.limits.core_anonymous = 1_000_000;
    })
    .await;
    let sim_url = sim.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.github.base_url = sim_url.clone();
        // The simulator plays github.com's device flow too.
        s.github.oauth_base_url = sim_url;
    })
    .await;
    let schema = app.url("/openapi.json");
    let scratch = tempfile::tempdir().unwrap();

    let args: Vec<String> = vec![
        "run".into(),
        schema,
        "--checks".into(),
        CHECKS.into(),
        "--seed".into(),
        SEED.into(),
        "--max-examples".into(),
        MAX_EXAMPLES.into(),
        "--phases".into(),
        "examples,coverage,fuzzing".into(),
        // One worker: CPython 3.11.7 (this machine's) can fail parsing
        // hypothesis's lambdas from several threads at once ("AST constructor
        // recursion depth mismatch") and then hang.
        "--workers".into(),
        "1".into(),
        "--header".into(),
        format!("Authorization: Bearer {ADMIN_TOKEN}"),
        "--generation-database".into(),
        "none".into(),
        "--request-timeout".into(),
        "10".into(),
        "--continue-on-failure".into(),
        "--no-color".into(),
    ];
    let printable = format!("{} {}", cli.display(), args.join(" "));
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&cli)
            .args(&args)
            .current_dir(scratch.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start schemathesis");
        let deadline = Instant::now() + KILL_AFTER;
        loop {
            if child.try_wait().expect("wait for schemathesis").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = child.wait_with_output().expect("schemathesis output");
        drop(scratch);
        output
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Shown by nextest only when the test fails, or with --no-capture.
    eprintln!("{printable}\n{report}");
    assert!(
        output.status.success(),
        "schemathesis failed ({}, after {:?}):\n{printable}\n\n{report}",
        output.status,
        started.elapsed()
    );
    // A run that tested nothing must not pass: the summary says how many
    // operations it tested.
    let tested: usize = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        tested >= 10,
        "schemathesis tested {tested} operations:\n{report}"
    );
    assert_eq!(
        app.get("/health").await.status(),
        reqwest::StatusCode::OK,
        "the API is still up"
    );
    app.shutdown().await;
}
