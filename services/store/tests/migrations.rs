use std::time::Duration;

use hubpulse_store::{Store, StoreError};
use hubpulse_testkit::TestDb;
use tokio_postgres::error::SqlState;

#[tokio::test]
async fn two_replicas_migrating_at_once_apply_the_schema_once() {
    let db = TestDb::new_unmigrated().await;
    let (a, b) = (db.store().await, db.store().await);
    assert!(matches!(
        a.readiness().await,
        Err(StoreError::MigrationsPending(_))
    ));
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.readiness().await.unwrap();
    let client = db.client().await;
    // Versions may have gaps (numbers are handed out ahead of merges): each
    // applied once, up to the newest.
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT version), max(version) FROM refinery_schema_history",
            &[],
        )
        .await
        .unwrap();
    let (applied, distinct, newest): (i64, i64, i32) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(applied, distinct, "a migration was applied twice");
    assert_eq!(newest, Store::latest_migration());
}

#[tokio::test]
async fn keys_and_constraints_hold() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let orphan = client
        .execute(
            "INSERT INTO repositories (id, owner_id, name, html_url, created_at, updated_at) \
             VALUES (1, 999, 'r', 'https://github.com/x/r', now(), now())",
            &[],
        )
        .await;
    let code = |r: Result<u64, tokio_postgres::Error>| r.unwrap_err().code().cloned();
    assert_eq!(code(orphan), Some(SqlState::FOREIGN_KEY_VIOLATION));
    client
        .execute("INSERT INTO topics (name) VALUES ('kubernetes')", &[])
        .await
        .unwrap();
    let twice = client
        .execute("INSERT INTO topics (name) VALUES ('kubernetes')", &[])
        .await;
    assert_eq!(code(twice), Some(SqlState::UNIQUE_VIOLATION));
    let bad = client
        .execute("INSERT INTO topics (name) VALUES ('Not A Topic')", &[])
        .await;
    assert_eq!(
        code(bad),
        Some(SqlState::CHECK_VIOLATION),
        "the topic name rule holds in the database too"
    );
}

#[tokio::test]
async fn every_test_gets_its_own_database() {
    let (a, b) = (TestDb::new().await, TestDb::new().await);
    assert_ne!(a.name(), b.name());
    a.client()
        .await
        .execute("INSERT INTO topics (name) VALUES ('only-in-a')", &[])
        .await
        .unwrap();
    let in_b: i64 = b
        .client()
        .await
        .query_one("SELECT count(*) FROM topics", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_b, 0);
    b.store().await.readiness().await.unwrap();
}

/// Advisory locks held or awaited in the test's database, by any session.
async fn advisory_locks(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_migration_given_up_while_waiting_for_the_lock_leaves_no_session_holding_it() {
    let db = TestDb::new().await;
    let holder = db.client().await;
    holder
        .execute("SELECT pg_advisory_lock(7527030587365552997)", &[])
        .await
        .unwrap();
    let store = db.store().await;
    // A client hanging up on /bootstrap_db: the future is dropped mid-wait.
    let gave_up = tokio::time::timeout(Duration::from_millis(300), store.migrate()).await;
    assert!(
        gave_up.is_err(),
        "migrate got the lock another session held"
    );
    holder
        .execute("SELECT pg_advisory_unlock(7527030587365552997)", &[])
        .await
        .unwrap();

    // Nobody else may come to hold it: not a session parked in the pool.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let held = advisory_locks(&holder).await;
        if held == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} advisory lock(s) still held or awaited after the migration was given up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Hold on a moment: a lock granted late to a parked session shows up too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(advisory_locks(&holder).await, 0);
    // And the next migration, from another replica, goes through at once.
    tokio::time::timeout(Duration::from_secs(5), db.store().await.migrate())
        .await
        .expect("the lock was left behind")
        .unwrap();
}
