//! The local stack's secrets (issue 12, item 1): `make up` and `make demo`
//! (scripts/lib.sh `stack_secrets generate`) make a random admin token and
//! Redis password on a stack's first start, keep them under its directory
//! readable by the owner only, reuse them on the next start, and never
//! write them to the committed `.env`; a caller's own export wins and is
//! kept.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `source scripts/lib.sh; stack_secrets generate` for the stack in `dir`,
/// in a shell with nothing of the developer's; prints what it exported.
fn generate(dir: &Path, extra: &[(&str, &str)]) -> (String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#"source scripts/lib.sh && stack_secrets generate \
               && printf '%s\n%s\n' "$HUBPULSE__ADMIN__TOKEN" "$HUBPULSE_REDIS_PASSWORD""#,
        )
        .current_dir(workspace())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HUBPULSE_STACK_DIR", dir)
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().map(str::to_owned);
    (lines.next().unwrap(), lines.next().unwrap())
}

#[test]
fn a_stack_generates_its_secrets_once_keeps_them_private_and_never_in_env() {
    let env_before = std::fs::read(workspace().join(".env")).unwrap();
    let one = tempfile::tempdir().unwrap();
    let (token, password) = generate(one.path(), &[]);
    for secret in [&token, &password] {
        assert_eq!(secret.len(), 64, "{secret:?}");
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret:?}");
    }
    assert_ne!(token, password);
    for (file, value) in [("admin-token", &token), ("redis-password", &password)] {
        let path = one.path().join(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), value);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is mode {mode:o}");
    }
    // The next start reuses them; another stack gets its own.
    assert_eq!(generate(one.path(), &[]), (token.clone(), password.clone()));
    let two = tempfile::tempdir().unwrap();
    assert_ne!(generate(two.path(), &[]).0, token);
    // A caller's own token wins and is what the stack keeps.
    let three = tempfile::tempdir().unwrap();
    let mine = "a-token-of-my-own-0123456789abcdef0123456789";
    let (kept, _) = generate(three.path(), &[("HUBPULSE__ADMIN__TOKEN", mine)]);
    assert_eq!(kept, mine);
    assert_eq!(generate(three.path(), &[]).0, mine);
    assert_eq!(std::fs::read(workspace().join(".env")).unwrap(), env_before);
}
