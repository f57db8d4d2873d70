//! deploy/kubernetes checked offline: `deploy/kubernetes/check/check.py`
//! renders the base and the demo overlay, validates every resource against
//! the Kubernetes schemas (kubernetes-validate, strict) and checks them
//! against this workspace's source: setting names against the settings
//! structs, secrets only from Secrets, probes on the API's routes and port,
//! Services, nginx's template, the drain (deploy/kubernetes/README.md lists
//! every rule). Then each of a few deliberate breaks of the manifests must
//! fail it, so a check that passes everything cannot pass here.
//!
//! kubernetes-validate comes from PyPI through
//! `scripts/install-kubernetes-validate.sh` (a pinned version in a venv
//! under target/tools), run first here so that `make test` installs it on a
//! fresh machine; a second run finds it there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the install script (a no-op when installed) and returns the venv's python.
fn install() -> PathBuf {
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
    let python = cli.with_file_name("python");
    assert!(python.exists(), "no python beside {cli:?}: {stdout:?}");
    python
}

/// The checker's exit status and its report (stdout, then stderr).
fn check(python: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(python)
        .arg(workspace().join("deploy/kubernetes/check/check.py"))
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run deploy/kubernetes/check/check.py");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// The number after `label` on the report's line that starts with `line`.
fn count(report: &str, line: &str, label: &str) -> usize {
    let Some(rest) = report.lines().find_map(|l| l.strip_prefix(line)) else {
        return 0;
    };
    let Some(at) = rest.find(label) else {
        return 0;
    };
    rest[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_manifests_validate_and_agree_with_the_source() {
    let python = install();
    let (ok, report) = check(&python, &[]);
    // Shown by nextest only when the test fails, or with --no-capture.
    eprintln!("{report}");
    assert!(ok, "deploy/kubernetes does not pass its check:\n{report}");
    // A run that rendered or checked nothing must not pass.
    assert!(
        count(&report, "rendered:", "base ") >= 8,
        "base rendered too few resources:\n{report}"
    );
    assert!(
        count(&report, "rendered:", "demo ") > count(&report, "rendered:", "base "),
        "the demo adds nothing to the base:\n{report}"
    );
    assert!(
        count(&report, "rules:", "") >= 100,
        "too few rules ran:\n{report}"
    );
}

/// (file under deploy/kubernetes, text in it, its replacement, what the failure must say)
const BREAKS: [(&str, &str, &str, &str); 6] = [
    // A setting renamed in a manifest (or in the code: the same mismatch).
    (
        "base/kustomization.yaml",
        "HUBPULSE__SERVER__SHUTDOWN_GRACE_SECS=",
        "HUBPULSE__SERVER__SHUTDOWN_GRACE_SEC=",
        "HUBPULSE__SERVER__SHUTDOWN_GRACE_SEC is not a setting of hubpulse-api",
    ),
    (
        "base/api.yaml",
        "path: /ready",
        "path: /readyz",
        "/readyz, which is no GET route of the API",
    ),
    (
        "demo/kustomization.yaml",
        "      - HUBPULSE__TOPICS__TRACKED=",
        "      - HUBPULSE__ADMIN__TOKEN=in-a-config-map\n      - HUBPULSE__TOPICS__TRACKED=",
        "HUBPULSE__ADMIN__TOKEN is a secret; it belongs in a Secret",
    ),
    (
        "base/proxy/nginx.conf",
        "proxy_next_upstream_tries 3;",
        "proxy_next_upstream_tries 1;",
        "its nginx.conf differs from proxy/nginx.conf",
    ),
    (
        "base/api.yaml",
        "containerPort: 3000",
        "containerPort: 3001",
        "listens on 3000 (HUBPULSE__SERVER__PORT), not a container port",
    ),
    // Only the schemas know this field.
    (
        "base/api.yaml",
        "terminationGracePeriodSeconds:",
        "terminationGracePeriodSecond:",
        "'terminationGracePeriodSecond' was unexpected",
    ),
];

#[test]
fn each_break_of_the_manifests_fails_the_check() {
    let python = install();
    let source = workspace().join("deploy/kubernetes");
    for (file, from, to, expected) in BREAKS {
        let scratch = tempfile::tempdir().unwrap();
        for entry in ["base", "demo", "README.md"] {
            copy(&source.join(entry), &scratch.path().join(entry));
        }
        let path = scratch.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();

        let manifests = scratch.path().to_str().unwrap();
        let (ok, report) = check(&python, &["--manifests", manifests, "--no-kubectl"]);
        assert!(
            !ok,
            "{file} with {from:?} as {to:?} passed the check:\n{report}"
        );
        assert!(
            report.contains(expected),
            "{file} with {from:?} as {to:?} failed, but not saying {expected:?}:\n{report}"
        );
    }
}

/// The other side of a rename: a setting renamed in the code (struct field
/// and defaults.toml, as a developer renaming it would) while the manifests
/// keep the old name. The check reads a scratch copy of the source.
#[test]
fn a_setting_renamed_in_the_code_fails_the_check() {
    let python = install();
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path();
    for entry in std::fs::read_dir(workspace().join("services")).unwrap() {
        let name = entry.unwrap().file_name();
        let crate_src = Path::new("services").join(&name).join("src");
        if workspace().join(&crate_src).is_dir() {
            copy(&workspace().join(&crate_src), &source.join(&crate_src));
        }
    }
    for entry in [
        "cron/src",
        "cron/defaults.toml",
        "proxy",
        "loadtest/src/bench.rs",
    ] {
        let to = source.join(entry);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        copy(&workspace().join(entry), &to);
    }
    // The unchanged copy passes: what fails below is the rename alone.
    let manifests = workspace().join("deploy/kubernetes");
    let manifests = manifests.to_str().unwrap();
    let args = [
        "--manifests",
        manifests,
        "--source",
        source.to_str().unwrap(),
        "--no-kubectl",
    ];
    let (ok, report) = check(&python, &args);
    assert!(ok, "the copied source does not pass:\n{report}");

    for (file, from, to) in [
        (
            "services/api/src/settings.rs",
            "pub shutdown_grace_secs: u64,",
            "pub drain_secs: u64,",
        ),
        (
            "services/api/src/defaults.toml",
            "shutdown_grace_secs = 15",
            "drain_secs = 15",
        ),
    ] {
        let path = source.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    let (ok, report) = check(&python, &args);
    assert!(
        !ok,
        "server.shutdown_grace_secs renamed in the code passed:\n{report}"
    );
    let expected = "HUBPULSE__SERVER__SHUTDOWN_GRACE_SECS is not a setting of hubpulse-api";
    assert!(
        report.contains(expected),
        "failed, but not saying {expected:?}:\n{report}"
    );
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
