//! `database.read_url` against a real streaming replica (made by the
//! harness with `pg_basebackup -R` from the test's own primary): list and
//! view reads are answered from the replica, writes land on the primary.
//! Who answered is told by pausing the replica's replay: a topic tracked
//! meanwhile is on the primary only, so a read that misses it came from the
//! replica, and finds it once replay resumes.

use std::time::Duration;

use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::{TestApp, TestReplicatedPostgres, eventually};
use secrecy::SecretString;

fn names(topics: &[hubpulse_client::TrackedTopic]) -> Vec<String> {
    topics.iter().map(|t| t.name.as_str().to_owned()).collect()
}

#[tokio::test]
async fn list_and_view_reads_come_from_the_replica_and_writes_land_on_the_primary() {
    let pg = TestReplicatedPostgres::new().await;
    let app = TestApp::spawn_with(|s| {
        s.database = pg.primary_settings();
        s.database.read_url = Some(SecretString::from(pg.replica_url()));
        s.topics.tracked = Vec::new();
        // Every view read goes past the process cache to Redis and Postgres.
        s.views.process_ttl_ms = 1;
    })
    .await;
    let api = &app.api;
    let alpha = Topic::parse("alpha").unwrap();
    api.track(&alpha).await.unwrap();
    pg.wait_caught_up().await;
    assert_eq!(names(&api.topics().await.unwrap()), ["alpha"]);

    pg.pause_replay().await;
    let beta = Topic::parse("beta").unwrap();
    let change = api.track(&beta).await.unwrap();
    assert!(change.changed, "beta is new");
    // The write is on the primary...
    let on_primary: i64 = pg
        .primary()
        .await
        .query_one(
            "SELECT count(*) FROM topics WHERE name = 'beta' AND tracked",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(on_primary, 1, "the write landed on the primary");
    // ...and the reads do not see it: they are the paused replica's.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(names(&api.topics().await.unwrap()), ["alpha"]);
    let view = app
        .get(&format!("{}beta", ViewKind::ByName.route_prefix()))
        .await;
    assert_eq!(view.status(), 404, "the replica does not track beta yet");
    let view = app
        .get(&format!("{}alpha", ViewKind::ByName.route_prefix()))
        .await;
    assert_eq!(view.status(), 200, "alpha is tracked on the replica");

    pg.resume_replay().await;
    eventually(
        "the replica's reads showing beta",
        Duration::from_secs(20),
        || async {
            let listed = names(&api.topics().await.map_err(|e| e.to_string())?);
            if listed == ["alpha", "beta"] {
                Ok(())
            } else {
                Err(format!("{listed:?}"))
            }
        },
    )
    .await;
    eventually(
        "beta's view answering from the replica",
        Duration::from_secs(20),
        || async {
            let status = app
                .get(&format!("{}beta", ViewKind::ByName.route_prefix()))
                .await
                .status();
            if status == 200 {
                Ok(())
            } else {
                Err(status.to_string())
            }
        },
    )
    .await;

    // The replica really served them: the service's own sessions are there.
    let sessions: i64 = pg
        .replica()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hubpulse'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(sessions >= 1, "no hubpulse session on the replica");
    app.shutdown().await;
}
