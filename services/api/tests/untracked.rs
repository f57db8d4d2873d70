//! Untracked means gone: a view that survives an untrack in Redis (its
//! delete failed, or a crawl published it late) is never served.

use std::time::Duration;

use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn a_view_left_in_redis_after_an_untrack_is_not_served() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    let topic = Topic::parse("rust").unwrap();
    app.api.track(&topic).await.unwrap();
    assert_eq!(app.get("/api/rust").await.status(), StatusCode::OK);
    // The read wrote the view back to Redis; keep a copy of it.
    let cache = app.redis.cache().await;
    let view = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(view) = cache.get_view(&topic, ViewKind::ByName).await.unwrap() {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the view reached Redis");

    app.api.untrack(&topic).await.unwrap().expect("was tracked");
    // What a failed delete (or a crawl publishing late) leaves behind.
    cache
        .put_view(&topic, ViewKind::ByName, &view)
        .await
        .unwrap();
    assert_eq!(app.get("/api/rust").await.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}
