//! A read of a view the replica holds is answered by the cached-read lane
//! (src/cached_reads.rs), ahead of the router; `?limit=500` of a 500-item
//! view is the same whole view the full way. Both give the same status,
//! headers and bytes for every encoding and for If-None-Match, and both are
//! counted under the route's template.

use hubpulse_cache::View;
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::TestApp;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const TOPIC: &str = "laned";

/// A tracked topic whose views (500 items) are in Redis.
async fn seed(app: &TestApp) -> View {
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO topics (name, tracked) VALUES ($1, true)",
            &[&TOPIC],
        )
        .await
        .unwrap();
    let items: Vec<Value> = (0..500u64)
        .map(|i| json!({"id": i, "full_name": format!("octo/repo-{i}"), "stars": 500 - i}))
        .collect();
    let view = View::from_items(&items).unwrap();
    let topic = Topic::parse(TOPIC).unwrap();
    let cache = app.redis.cache().await;
    for kind in ViewKind::ALL {
        cache.put_view(&topic, kind, &view).await.unwrap();
    }
    view
}

/// Status, the headers but those that differ per answer, and the body.
async fn read(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let mut request = client.get(format!("http://{}{path}", app.addr));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    let head = stable(reply.headers());
    (status, head, reply.bytes().await.unwrap().to_vec())
}

fn stable(headers: &HeaderMap) -> String {
    let mut lines: Vec<String> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn requests(metrics: &hubpulse_client::Metrics, route: &str, status: &str) -> f64 {
    metrics.sum(
        "hubpulse_http_requests_total",
        &[("route", route), ("method", "GET"), ("status", status)],
    )
}

#[tokio::test]
async fn the_lane_answers_as_the_full_way_does_and_counts_under_the_route() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    let view = seed(&app).await;
    let etag = String::from_utf8(view.etag.to_vec()).unwrap();

    for kind in ViewKind::ALL {
        let path = format!("{}{TOPIC}", kind.route_prefix());
        let route = kind.route_template();
        // The first read finds nothing in the process: the full way loads it.
        assert_eq!(read(&app, &path, &[]).await.0, 200);
        let before = app.api.metrics().await.unwrap();
        let mut reads = 0.0;
        for (accept, body) in [
            ("identity", &view.plain),
            ("gzip", &view.gzip),
            ("gzip, br", &view.brotli),
        ] {
            let asked = [("accept-encoding", accept)];
            let lane = read(&app, &path, &asked).await;
            let full = read(&app, &format!("{path}?limit=500"), &asked).await;
            assert_eq!(lane.0, 200, "{path} {accept}");
            assert_eq!(lane.2, body[..], "{path} {accept}: not the view's bytes");
            assert_eq!(
                lane, full,
                "{path} {accept}: the lane and the full way differ"
            );
            assert!(lane.1.contains(&format!("etag: {etag}")), "{}", lane.1);

            let unchanged = [
                ("accept-encoding", accept),
                ("if-none-match", etag.as_str()),
            ];
            let lane = read(&app, &path, &unchanged).await;
            let full = read(&app, &format!("{path}?limit=500"), &unchanged).await;
            assert_eq!(lane.0, 304, "{path} {accept}: {}", lane.1);
            assert!(lane.2.is_empty());
            assert_eq!(lane, full, "{path} {accept}: 304s differ");
            reads += 2.0;
        }
        let after = app.api.metrics().await.unwrap();
        for status in ["200", "304"] {
            assert_eq!(
                requests(&after, route, status) - requests(&before, route, status),
                reads,
                "{route} {status}: reads counted elsewhere: {:?}",
                after.by_label("hubpulse_http_requests_total", "route")
            );
        }
    }

    // A topic not tracked is the full way's 404, whatever the lane holds.
    let (status, _, body) = read(&app, "/api/popularity/not-laned", &[]).await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    app.shutdown().await;
}
