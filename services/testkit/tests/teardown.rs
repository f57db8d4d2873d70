//! `TestApp`'s teardown check: a job that ended `failed` fails the test,
//! whether it ends with `shutdown` or by drop, unless the test said so.

use hubpulse_testkit::TestApp;

async fn app_with_a_failed_job() -> TestApp {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    app.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO jobs (kind, status, max_attempts, attempts, last_error) \
             VALUES ('crawl_topic', 'failed', 1, 1, 'GitHub said no')",
        )
        .await
        .unwrap();
    app
}

/// The teardown check panics with a formatted message: a `String`.
fn panic_text(err: tokio::task::JoinError) -> String {
    *err.into_panic()
        .downcast::<String>()
        .expect("a formatted panic message")
}

#[tokio::test]
async fn a_failed_job_fails_the_test_at_shutdown_and_at_drop() {
    let app = app_with_a_failed_job().await;
    let err = tokio::spawn(app.shutdown()).await.unwrap_err();
    let text = panic_text(err);
    assert!(
        text.contains("jobs ended failed") && text.contains("GitHub said no"),
        "{text}"
    );

    let app = app_with_a_failed_job().await;
    let err = tokio::spawn(async move { drop(app) }).await.unwrap_err();
    assert!(panic_text(err).contains("jobs ended failed"));
}

#[tokio::test]
async fn a_test_that_expects_failed_jobs_says_so() {
    let mut app = app_with_a_failed_job().await;
    app.expect_failed_jobs();
    app.shutdown().await;
    let mut app = app_with_a_failed_job().await;
    app.expect_failed_jobs();
    drop(app);
}
