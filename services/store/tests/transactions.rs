//! A job's rows and the jobs it enqueues commit or roll back together: the
//! store's functions run on any connection or open transaction.

use hubpulse_domain::wire::RepoPayload;
use hubpulse_store::queue::{self, Enqueued, JobStatus, NewJob};
use hubpulse_store::{Store, repositories};
use hubpulse_testkit::TestDb;

fn repo(id: i64, owner_id: i64, stars: i64) -> RepoPayload {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "name": format!("repo-{id}"),
        "full_name": format!("owner-{owner_id}/repo-{id}"),
        "owner": {"id": owner_id, "login": format!("owner-{owner_id}"), "type": "User"},
        "html_url": format!("https://github.com/owner-{owner_id}/repo-{id}"),
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT"},
        "stargazers_count": stars,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn follow_up() -> NewJob {
    NewJob {
        kind: "follow_up".into(),
        payload: serde_json::json!({"repository": 1}),
        dedup_key: Some("follow_up:1".into()),
        priority: 0,
        max_attempts: 3,
        run_at: None,
    }
}

/// Owners, repositories, licenses and jobs, as another session sees them.
async fn counts(store: &Store) -> [i64; 4] {
    let conn = store.conn().await.unwrap();
    let mut out = [0; 4];
    for (slot, table) in out
        .iter_mut()
        .zip(["owners", "repositories", "licenses", "jobs"])
    {
        *slot = conn
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
    }
    out
}

#[tokio::test]
async fn rows_and_an_enqueued_job_roll_back_together() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let repos = [repo(1, 10, 5), repo(2, 10, 7), repo(3, 11, 1)];

    let mut conn = store.conn().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let stored = repositories::upsert(&tx, &repos).await.unwrap();
    assert_eq!(stored, [1, 2, 3]);
    let enqueued = queue::enqueue(&tx, &follow_up()).await.unwrap();
    assert!(matches!(enqueued, Enqueued::New(_)));
    // Inside the transaction both are there; outside, neither is yet.
    let job = queue::job(&tx, enqueued.id()).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(counts(&store).await, [0, 0, 0, 0]);
    tx.rollback().await.unwrap();
    drop(conn);

    assert_eq!(counts(&store).await, [0, 0, 0, 0]);
    let conn = store.conn().await.unwrap();
    assert!(queue::job(&conn, enqueued.id()).await.unwrap().is_none());
    // Nothing for a worker to claim either.
    assert!(
        queue::claim(&conn, "w", std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn rows_and_an_enqueued_job_commit_together() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let repos = [repo(1, 10, 5), repo(2, 10, 7), repo(3, 11, 1)];

    let mut conn = store.conn().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    repositories::upsert(&tx, &repos).await.unwrap();
    let enqueued = queue::enqueue(&tx, &follow_up()).await.unwrap();
    tx.commit().await.unwrap();
    drop(conn);

    assert_eq!(counts(&store).await, [2, 3, 1, 1]);
    let conn = store.conn().await.unwrap();
    let job = queue::job(&conn, enqueued.id()).await.unwrap().unwrap();
    assert_eq!(
        (job.kind.as_str(), job.status),
        ("follow_up", JobStatus::Queued)
    );
    // The committed job is live: its dedup key holds.
    assert_eq!(
        queue::enqueue(&conn, &follow_up()).await.unwrap(),
        Enqueued::Existing(enqueued.id())
    );
    let claimed = queue::claim(&conn, "w", std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, enqueued.id());
}

#[tokio::test]
async fn shared_upserts_refresh_rows_and_skip_what_the_schema_refuses() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let conn = store.conn().await.unwrap();
    let mut too_long = repo(4, 12, 0);
    too_long.name = "x".repeat(101);
    // A repository twice in one batch is stored once, its last copy winning.
    let stored = repositories::upsert(&conn, &[repo(1, 10, 5), too_long, repo(1, 10, 9)])
        .await
        .unwrap();
    assert_eq!(stored, [1]);
    repositories::upsert(&conn, &[repo(1, 10, 42)])
        .await
        .unwrap();
    let stars: i64 = conn
        .query_one(
            "SELECT stargazers_count FROM repositories WHERE id = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stars, 42);
    assert_eq!(counts(&store).await, [1, 1, 1, 0]);
}
