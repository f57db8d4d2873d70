//! docker-compose.yml checked as `docker compose config` would check it,
//! with no Docker engine: `scripts/check-compose.py` interpolates it as
//! compose does and validates it against the compose specification's JSON
//! schema (pinned in deploy/compose/compose-spec.json). Without a token of
//! its own, compose refuses to start at all; the API's own start-up check
//! refusing an empty token off loopback is in `binary.rs`.
//!
//! The checker runs on the kubernetes-validate venv's python (jsonschema
//! and PyYAML), installed by `scripts/install-kubernetes-validate.sh`, run
//! first here so that `make test` installs it on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(workspace().join("scripts/install-kubernetes-validate.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/install-kubernetes-validate.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "installing kubernetes-validate failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    cli.with_file_name("python")
}

/// The checker's verdict and what it printed, with only `env` set (no
/// developer's variables leak in) and `.env` read as compose reads it.
fn check(python: &Path, file: &Path, env: &[(&str, &str)]) -> (bool, String) {
    check_with(python, file, env, &[])
}

fn check_with(python: &Path, file: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = Command::new(python)
        .arg(workspace().join("scripts/check-compose.py"))
        .arg("--file")
        .arg(file)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/check-compose.py");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const TOKEN: &str = "0f7c2b9e4d1a6f3c8e5b2d9a7c4f1e6b3d8a5c2f9e7b4d1a";

#[test]
fn the_compose_file_is_valid_and_refuses_to_start_without_a_token() {
    let python = python();
    let compose = workspace().join("docker-compose.yml");
    let (ok, report) = check(&python, &compose, &[("HUBPULSE__ADMIN__TOKEN", TOKEN)]);
    assert!(ok, "{report}");
    assert!(
        report.contains("valid against the compose specification")
            && report.contains("api-a")
            && report.contains("nginx"),
        "{report}"
    );

    // No token: compose stops before starting anything, naming the variable
    // for every service that needs it (both replicas and cron).
    let (ok, report) = check(&python, &compose, &[]);
    assert!(!ok, "accepted without a token:\n{report}");
    let named = report
        .lines()
        .filter(|l| l.contains("required variable HUBPULSE__ADMIN__TOKEN"))
        .count();
    assert!(named >= 3, "{report}");
    let (ok, report) = check(&python, &compose, &[("HUBPULSE__ADMIN__TOKEN", "")]);
    assert!(!ok, "accepted an empty token:\n{report}");
}

/// A checker that accepts anything proves nothing: a key compose does not
/// know, and a port of the wrong type, must each fail it.
#[test]
fn a_broken_compose_file_fails_the_check() {
    let python = python();
    let original = std::fs::read_to_string(workspace().join("docker-compose.yml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (what, from, to) in [
        (
            "an unknown service key",
            "  api-a:\n    <<: *api\n",
            "  api-a:\n    <<: *api\n    replicaz: 2\n",
        ),
        (
            "a healthcheck interval of the wrong type",
            "    interval: 2s\n",
            "    interval: [2s]\n",
        ),
    ] {
        assert!(original.contains(from), "{what}: the pattern is gone");
        let broken = dir.path().join("docker-compose.yml");
        std::fs::write(&broken, original.replacen(from, to, 1)).unwrap();
        let (ok, report) = check(&python, &broken, &[("HUBPULSE__ADMIN__TOKEN", TOKEN)]);
        assert!(!ok, "{what} passed:\n{report}");
    }
}

/// nginx is published on loopback unless HUBPULSE_PUBLISH_ADDRESS opens it,
/// and the image's build context leaves out secrets and build output.
#[test]
fn nginx_is_published_on_loopback_and_the_image_leaves_out_secrets() {
    let python = python();
    let compose = workspace().join("docker-compose.yml");
    let published = |env: &[(&str, &str)]| {
        let (ok, dump) = check_with(&python, &compose, env, &["--dump"]);
        assert!(ok, "{dump}");
        let config: serde_json::Value = serde_json::from_str(&dump).unwrap();
        config["services"]["nginx"]["ports"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        published(&[("HUBPULSE__ADMIN__TOKEN", TOKEN)]),
        "127.0.0.1:8080:8080"
    );
    assert_eq!(
        published(&[
            ("HUBPULSE__ADMIN__TOKEN", TOKEN),
            ("HUBPULSE_PUBLISH_ADDRESS", "0.0.0.0")
        ]),
        "0.0.0.0:8080:8080"
    );
    let ignored = std::fs::read_to_string(workspace().join(".dockerignore")).unwrap();
    let lines: Vec<&str> = ignored.lines().map(str::trim).collect();
    for entry in [".env", ".stack*", "target"] {
        assert!(
            lines.contains(&entry),
            ".dockerignore lacks {entry}:\n{ignored}"
        );
    }
}
