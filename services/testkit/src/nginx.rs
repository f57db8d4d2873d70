//! nginx from the project's own template (`proxy/render.sh` over
//! `proxy/nginx.conf`, as the local stack renders it), in the foreground as
//! a child of the test, in front of whatever upstreams the test runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestNginx {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl TestNginx {
    /// Renders the template for `upstreams` (`host:port` or `unix:/path`),
    /// starts nginx on a free port and waits until it listens.
    pub fn start(upstreams: &[String]) -> TestNginx {
        Self::start_with(upstreams, &[])
    }

    /// As `start`, with more of `proxy/render.sh`'s variables (e.g.
    /// `NGINX_RATE_LIMIT`) set for the rendering.
    pub fn start_with(upstreams: &[String], vars: &[(&str, &str)]) -> TestNginx {
        let dir = tempfile::tempdir().expect("a temp dir for nginx");
        // nginx's workers run as nobody when the master is root: they must be
        // able to reach the temp paths under the prefix.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("nginx's prefix is readable by its workers");
        let port = crate::free_port();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rendered = Command::new("sh")
            .arg(root.join("proxy/render.sh"))
            .arg(root.join("proxy/nginx.conf"))
            .env("NGINX_LISTEN", format!("127.0.0.1:{port}"))
            .env("NGINX_PREFIX", dir.path())
            .env("NGINX_UPSTREAMS", upstreams.join(" "))
            .envs(vars.iter().copied())
            .output()
            .expect("proxy/render.sh runs");
        assert!(
            rendered.status.success(),
            "proxy/render.sh: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, &rendered.stdout).expect("nginx.conf written");
        let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs (scripts/install-deps.sh installs it)");
        let nginx = TestNginx { port, child, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The JSON access log: one line per request, with every upstream tried.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

impl Drop for TestNginx {
    /// SIGTERM, so the master stops its workers (a SIGKILL would leave them
    /// running, orphaned, on the port); SIGKILL only if it lingers.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
