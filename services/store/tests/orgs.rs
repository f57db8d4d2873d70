//! `contributor_first_month` kept incrementally: applying a repository's
//! statistics writes only the contributors whose first week changed and
//! the months they leave or enter, and nothing at all when none changed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hubpulse_domain::wire::RepoPayload;
use hubpulse_store::orgs::{self, Contributions, FirstWeek, MonthQuery, StatsState};
use hubpulse_store::{Store, repositories};
use hubpulse_testkit::TestDb;

fn repo(id: i64) -> RepoPayload {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "name": format!("repo-{id}"),
        "full_name": format!("acme/repo-{id}"),
        "owner": {"id": 77, "login": "acme", "type": "Organization"},
        "html_url": format!("https://github.com/acme/repo-{id}"),
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn sunday(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn weeks(entries: &[(i64, NaiveDate)]) -> BTreeMap<i64, FirstWeek> {
    entries
        .iter()
        .map(|&(id, week)| {
            (
                id,
                FirstWeek {
                    login: format!("user-{id}"),
                    week,
                },
            )
        })
        .collect()
}

async fn apply(store: &Store, first_weeks: &BTreeMap<i64, FirstWeek>, hash: &str) -> orgs::Applied {
    let mut conn = store.conn().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let applied = orgs::apply_contributions(
        &tx,
        1,
        &Contributions {
            first_weeks,
            anonymous_commits: 3,
            body_hash: hash,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    applied
}

/// (month, count, row version) of repository 1.
async fn months(store: &Store) -> Vec<(NaiveDate, i32, String)> {
    let conn = store.conn().await.unwrap();
    conn.query(
        "SELECT month, new_contributors, xmin::text FROM contributor_first_month \
         WHERE repository_id = 1 ORDER BY month",
        &[],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[tokio::test]
async fn only_the_months_whose_contributors_changed_are_written() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let conn = store.conn().await.unwrap();
    repositories::upsert(&conn, &[repo(1)]).await.unwrap();
    assert!(orgs::track(&conn, "ACME").await.unwrap());
    orgs::synced(&conn, "acme", Some(77)).await.unwrap();

    // Sunday 2024-03-31 starts a week that ends in April: March counts it.
    let (jan, mar_end, may) = (sunday(2024, 1, 7), sunday(2024, 3, 31), sunday(2024, 5, 5));
    let first = apply(&store, &weeks(&[(1, jan), (2, jan), (3, mar_end)]), "h1").await;
    assert_eq!(first.contributors_changed, 3);
    assert_eq!(first.months_written, 2);
    let before = months(&store).await;
    let counts: Vec<(NaiveDate, i32)> = before.iter().map(|(m, n, _)| (*m, *n)).collect();
    assert_eq!(counts, [(sunday(2024, 1, 1), 2), (sunday(2024, 3, 1), 1)]);

    // The same contributors again: nothing written.
    let same = apply(&store, &weeks(&[(1, jan), (2, jan), (3, mar_end)]), "h1").await;
    assert_eq!((same.contributors_changed, same.months_written), (0, 0));
    assert_eq!(months(&store).await, before);

    // One newcomer in May: one row inserted, January and March untouched.
    let grown = apply(
        &store,
        &weeks(&[(1, jan), (2, jan), (3, mar_end), (4, may)]),
        "h2",
    )
    .await;
    assert_eq!((grown.contributors_changed, grown.months_written), (1, 1));
    let after = months(&store).await;
    assert_eq!(after[..2], before[..], "January and March not rewritten");
    assert_eq!((after[2].0, after[2].1), (sunday(2024, 5, 1), 1));

    // Contributor 3's history is gone (a rewritten branch): March empties
    // and its row goes; January and May stay as they were.
    let shrunk = apply(&store, &weeks(&[(1, jan), (2, jan), (4, may)]), "h3").await;
    assert_eq!((shrunk.contributors_changed, shrunk.months_written), (1, 1));
    let last = months(&store).await;
    assert_eq!(last, vec![after[0].clone(), after[2].clone()]);

    let target = orgs::stats_target(&conn, 1).await.unwrap().unwrap();
    assert_eq!(target.state, StatsState::Ready);
    assert_eq!(target.body_hash.as_deref(), Some("h3"));

    let (total, rows) = orgs::new_contributors(
        &conn,
        "acme",
        &MonthQuery {
            limit: 10,
            ..MonthQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(total, 2);
    assert_eq!(rows[0].repo_name, "acme/repo-1");
    assert_eq!(rows[0].new_contributors, 2);

    // An empty repository (204) clears its months.
    let mut conn = store.conn().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let emptied = orgs::apply_empty(&tx, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(emptied.months_written, 2);
    assert!(months(&store).await.is_empty());
}
