//! The `hubpulse-api` binary itself: start-up refusal on bad configuration,
//! and JSON logs carrying the request id.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hubpulse_client::ApiClient;
use hubpulse_testkit::{TestDb, TestRedis, eventually, free_port};
use secrecy::SecretString;

const BIN: &str = env!("CARGO_BIN_EXE_hubpulse-api");

#[test]
fn a_wrong_config_value_stops_start_up_naming_the_key() {
    for (key, value, named) in [
        ("HUBPULSE__SERVER__PORT", "eighty", "server.port"),
        (
            "HUBPULSE__SERVER__REQUEST_TIMEOUT_MS",
            "0",
            "server.request_timeout_ms",
        ),
        ("HUBPULSE__LOG__FORMAT", "xml", "log.format"),
        ("HUBPULSE__REDIS__URL", "http://nope", "redis.url"),
        (
            "HUBPULSE__TOPICS__TRACKED",
            "rust,Bad Topic",
            "topics.tracked",
        ),
    ] {
        let out = Command::new(BIN).env(key, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}={value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(named), "{key}={value}: {stderr}");
    }
}

/// What compose would start without a token of its own (it listens on
/// 0.0.0.0): the binary refuses a known, short or missing token, naming the
/// variable to set (compose itself refuses first: `compose.rs`).
#[test]
fn a_known_or_short_admin_token_off_loopback_stops_start_up() {
    for token in ["hubpulse-dev-admin-token", "short-but-not-empty"] {
        let out = Command::new(BIN)
            .env("HUBPULSE__SERVER__HOST", "0.0.0.0")
            .env("HUBPULSE__ADMIN__TOKEN", token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{token}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("HUBPULSE__ADMIN__TOKEN"), "{stderr}");
        assert!(!stderr.contains(token), "the token leaked: {stderr}");
    }
    // No token at all: what the container image (0.0.0.0) would start
    // with if compose's own refusal were bypassed.
    let out = Command::new(BIN)
        .env("HUBPULSE__SERVER__HOST", "0.0.0.0")
        .env_remove("HUBPULSE__ADMIN__TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "started without a token");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("HUBPULSE__ADMIN__TOKEN") && stderr.contains("not set"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_secrets() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let port = free_port();
    let admin_secret = "admin-secret-7f3a9";
    // The test server trusts loopback, so any password is accepted: it is
    // here only to be looked for in the logs.
    let db_password = "db-password-91c2e";
    let db_url = db
        .url()
        .replacen("postgres@", &format!("postgres:{db_password}@"), 1);
    let mut child = Command::new(BIN)
        .env("HUBPULSE__SERVER__PORT", port.to_string())
        .env("HUBPULSE__LOG__FORMAT", "json")
        .env("HUBPULSE__LOG__LEVEL", "info,hubpulse_api::observe=debug")
        .env("HUBPULSE__DATABASE__URL", &db_url)
        .env("HUBPULSE__REDIS__URL", redis.url())
        .env("HUBPULSE__REDIS__KEY_PREFIX", redis.key_prefix())
        .env("HUBPULSE__ADMIN__TOKEN", admin_secret)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/ready");
    eventually("the binary ready", Duration::from_secs(20), || async {
        let resp = client
            .get(&url)
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        resp.error_for_status().map(drop).map_err(|e| e.to_string())
    })
    .await;
    // SIGTERM: the binary drains and exits by itself.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");

    let tagged: Vec<&String> = lines.iter().filter(|l| l.contains("trace-me-42")).collect();
    assert!(
        !tagged.is_empty(),
        "no log line carries the request id:\n{}",
        lines.join("\n")
    );
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(!line.contains(admin_secret), "admin token leaked: {line}");
        assert!(
            !line.contains(db_password),
            "database password leaked: {line}"
        );
    }
}

/// The binary as `scripts/stack.sh` starts it: `.env` and the stack's kept
/// secrets exported by `scripts/lib.sh`, a config file named by `HUBPULSE_CONFIG`, and, unless
/// `raw`, the `env -u` arguments that drop `.env`'s `HUBPULSE__*` values.
fn start_as_the_stack_does(
    config: &std::path::Path,
    stack: &std::path::Path,
    raw: bool,
) -> std::process::Child {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = if raw {
        r#"source scripts/lib.sh && exec "$0" --config "$HUBPULSE_CONFIG""#
    } else {
        r#"source scripts/lib.sh && mapfile -t unsets < <(env_file_unsets HUBPULSE_CONFIG) && exec env "${unsets[@]}" "$0" --config "$HUBPULSE_CONFIG""#
    };
    let mut command = Command::new("bash");
    // Only .env and the test: a developer's HUBPULSE* must not leak in.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HUBPULSE") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(root)
        .args(["-c", script, BIN])
        .env("HUBPULSE_CONFIG", config)
        .env("HUBPULSE_STACK_DIR", stack)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_config_file_is_not_overridden_by_the_env_file() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    // The admin token the scripts export is the stack's generated one, kept
    // in its directory (.env commits none): a stack directory of the test's.
    let stack = tempfile::tempdir().unwrap();
    let env_token = "token-the-stack-generated-0b7";
    std::fs::write(stack.path().join("admin-token"), format!("{env_token}\n")).unwrap();
    let file_token = "token-from-the-config-file-5e1";
    for raw in [false, true] {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("api.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nport = {port}\n[database]\nurl = \"{}\"\n[redis]\nurl = \"{}\"\nkey_prefix = \"{}\"\n\
                 [workers]\ncount = 0\n[admin]\ntoken = \"{file_token}\"\n",
                db.url(),
                redis.url(),
                redis.key_prefix()
            ),
        )
        .unwrap();
        let mut child = start_as_the_stack_does(&config, stack.path(), raw);
        let base = format!("http://127.0.0.1:{port}");
        let ready = ApiClient::new(&base)
            .unwrap()
            .wait_ready(Duration::from_secs(20))
            .await;
        let accepted = |token: &str| {
            let api = ApiClient::new(&base)
                .unwrap()
                .with_admin_token(SecretString::from(token.to_owned()));
            async move { api.update_cache().await.is_ok() }
        };
        let (file_wins, env_wins) = (accepted(file_token).await, accepted(env_token).await);
        let _ = child.kill();
        let _ = child.wait();
        ready.expect("the binary started from the config file");
        if raw {
            // Without the helper the exported value wins: what it is for.
            assert!(env_wins && !file_wins, "the bare export overrides the file");
        } else {
            assert!(
                file_wins && !env_wins,
                "the config file's admin token wins over the stack's"
            );
        }
    }
}
