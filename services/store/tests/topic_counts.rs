//! Each topic's member count is kept by the writes to `repository_topics`
//! (V7), in their own transactions: inserts (duplicates ignored), deletes,
//! a repository's cascading delete, and a rollback all leave it equal to a
//! fresh count, and `topics::tracked` answers from it without reading the
//! memberships.

use std::time::Duration;

use hubpulse_domain::Topic;
use hubpulse_store::topics;
use hubpulse_testkit::TestDb;

/// Repositories 1 to `n` of one owner.
async fn seed_repositories(client: &tokio_postgres::Client, n: i64) {
    client
        .execute(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'zeta', 'User')",
            &[],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO repositories (id, owner_id, name, html_url, created_at, updated_at) \
             SELECT i, 1, 'r' || i, 'https://github.com/zeta/r' || i, '2020-01-01Z', '2020-01-01Z' \
             FROM generate_series(1, $1::bigint) i",
            &[&n],
        )
        .await
        .unwrap();
}

/// The kept count and a fresh one, per topic name.
async fn counts(client: &tokio_postgres::Client) -> Vec<(String, i64, i64)> {
    client
        .query(
            "SELECT t.name, t.member_count, \
                 (SELECT count(*) FROM repository_topics rt WHERE rt.topic_id = t.id) \
             FROM topics t ORDER BY t.name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn assert_kept(client: &tokio_postgres::Client, expected: &[(&str, i64)]) {
    let counts = counts(client).await;
    for (name, kept, fresh) in &counts {
        assert_eq!(kept, fresh, "{name}: kept {kept}, counted {fresh}");
    }
    let got: Vec<(&str, i64)> = counts.iter().map(|(n, k, _)| (n.as_str(), *k)).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn member_counts_follow_every_write_to_the_memberships() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let client = db.client().await;
    seed_repositories(&client, 10).await;
    let (rust, go) = (Topic::parse("rust").unwrap(), Topic::parse("go").unwrap());
    let mut conn = store.conn().await.unwrap();
    topics::track(&conn, &rust).await.unwrap();
    topics::track(&conn, &go).await.unwrap();
    let rust_id = topics::id(&conn, &rust).await.unwrap().unwrap();
    let go_id = topics::id(&conn, &go).await.unwrap().unwrap();

    topics::add_members(&conn, rust_id, &[1, 2, 3, 4])
        .await
        .unwrap();
    // Members already there are ignored, not counted twice.
    topics::add_members(&conn, rust_id, &[3, 4, 5])
        .await
        .unwrap();
    topics::add_members(&conn, go_id, &[1, 6]).await.unwrap();
    assert_kept(&client, &[("go", 2), ("rust", 5)]).await;

    // A transaction that rolls back leaves the count as it was.
    let tx = conn.transaction().await.unwrap();
    topics::add_members(&tx, rust_id, &[7, 8, 9]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_kept(&client, &[("go", 2), ("rust", 5)]).await;

    // A prune, and a repository deleted from under two topics.
    client
        .execute(
            "DELETE FROM repository_topics WHERE topic_id = $1 AND repository_id IN (4, 5)",
            &[&rust_id],
        )
        .await
        .unwrap();
    client
        .execute("DELETE FROM repositories WHERE id = 1", &[])
        .await
        .unwrap();
    assert_kept(&client, &[("go", 1), ("rust", 2)]).await;

    let listed = topics::tracked(&conn).await.unwrap();
    let listed: Vec<(&str, i64)> = listed
        .iter()
        .map(|t| (t.name.as_str(), t.repositories))
        .collect();
    assert_eq!(listed, [("go", 1), ("rust", 2)]);

    // The list reads no membership: it answers while they are locked.
    let mut locker = db.client().await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE repository_topics IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let listed = tokio::time::timeout(Duration::from_secs(5), topics::tracked(&conn))
        .await
        .expect("topics::tracked read repository_topics")
        .unwrap();
    assert_eq!(listed.len(), 2);
    lock.rollback().await.unwrap();
}

/// A first crawl fills `repository_topics` faster than autovacuum looks at
/// it: the planner's statistics are refreshed once one topic outgrows them,
/// and not again while they hold.
#[tokio::test]
async fn member_statistics_are_refreshed_once_a_topic_outgrows_them() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let client = db.client().await;
    seed_repositories(&client, 3000).await;
    let topic = Topic::parse("rust").unwrap();
    let conn = store.conn().await.unwrap();
    topics::track(&conn, &topic).await.unwrap();
    let topic_id = topics::id(&conn, &topic).await.unwrap().unwrap();
    let ids: Vec<i64> = (1..=3000).collect();
    topics::add_members(&conn, topic_id, &ids).await.unwrap();
    let estimate = || async {
        client
            .query_one(
                "SELECT reltuples::float8 FROM pg_class WHERE oid = 'repository_topics'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get::<_, f64>(0)
    };
    assert!(estimate().await < 3000.0, "not analyzed yet");

    assert!(
        topics::refresh_member_statistics(&conn, topic_id)
            .await
            .unwrap()
    );
    assert_eq!(estimate().await, 3000.0);
    assert!(
        !topics::refresh_member_statistics(&conn, topic_id)
            .await
            .unwrap()
    );
    // The view query plans with them: the topic's 3,000 rows, not a guess.
    let plan: String = client
        .query(
            "EXPLAIN SELECT * FROM repository_topics WHERE topic_id = $1",
            &[&topic_id],
        )
        .await
        .unwrap()[0]
        .get(0);
    assert!(plan.contains("rows=3000"), "{plan}");
}
