//! Failure paths no production route can be asked to take (a handler that
//! panics, one that overruns the request timeout) and where log lines land,
//! served over real HTTP.
use std::sync::Mutex;

use super::*;
use axum::routing::get;

async fn panicking() -> &'static str {
    panic!("boom with a secret inside")
}

async fn serve_with_test_routes() -> (SocketAddr, CancellationToken) {
    let mut settings = Settings::load(None).unwrap();
    settings.server.request_timeout_ms = 200;
    settings.server.replica = "unit".into();
    let cache = Cache::connect(&settings.redis).unwrap();
    let metrics = Arc::new(Metrics::new("unit"));
    let budget =
        hubpulse_cache::RedisBudget::new(cache.clone(), settings.github.budget_policy()).unwrap();
    let github = Arc::new(GithubClient::new(&settings.github, Arc::new(budget), None).unwrap());
    let state = AppState::new(
        settings.clone(),
        Store::connect(&settings.database).unwrap(),
        cache,
        github,
        metrics,
    );
    let routes = routes::router()
        .route("/panic", get(panicking))
        .route(
            "/warns",
            get(|| async {
                tracing::warn!("a warning from a handler");
                "warned"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let service = Stack::new(state, routes).unwrap().service();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(1),
        zerocopy: None,
    };
    tokio::spawn(serve(listener, None, service, options, shutdown.clone()));
    (addr, shutdown)
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_json_error_without_the_panic_text() {
    let (addr, shutdown) = serve_with_test_routes().await;
    let resp = reqwest::get(format!("http://{addr}/panic")).await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-hubpulse-replica"], "unit");
    let body = resp.text().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "internal");
    assert!(!body.contains("secret"), "{body}");
    // The server is still up after the panic.
    let resp = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(resp.status(), 200);
    shutdown.cancel();
}

#[tokio::test]
async fn a_request_past_the_timeout_is_a_503_json_error() {
    let (addr, shutdown) = serve_with_test_routes().await;
    let started = std::time::Instant::now();
    let resp = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(2));
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"]["code"], "unavailable");
    shutdown.cancel();
}

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn parsed(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

// The test's runtime has one thread, where the server's tasks run too, so
// the subscriber set for this thread sees their lines.
#[tokio::test]
async fn a_handlers_lines_and_a_panics_line_carry_the_request_id() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let (addr, shutdown) = serve_with_test_routes().await;
    let client = reqwest::Client::new();
    for (path, id) in [
        ("/warns", "id-of-the-warning"),
        ("/panic", "id-of-the-panic"),
    ] {
        client
            .get(format!("http://{addr}{path}"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
    }
    shutdown.cancel();

    let logged = lines.parsed();
    let line = |message: &str| {
        logged
            .iter()
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in {logged:?}"))
    };
    let warning = line("a warning from a handler");
    assert_eq!(warning["span"]["request_id"], "id-of-the-warning");
    assert_eq!(warning["span"]["path"], "/warns");
    let panicked = line("handler panicked");
    assert_eq!(panicked["span"]["request_id"], "id-of-the-panic");
    assert_eq!(panicked["span"]["method"], "GET");
    assert_eq!(panicked["status"], 500);
    assert_eq!(panicked["panic"], "boom with a secret inside");
    // Logged once: Observe logs it, the errors layer only hands it on.
    let failures = logged.iter().filter(|l| l["level"] == "ERROR").count();
    assert_eq!(failures, 1, "{logged:?}");
}
