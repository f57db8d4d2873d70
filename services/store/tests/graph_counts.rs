//! The graph lists' `count`: exact up to the bound; the planner's estimate,
//! marked, above it, and asked first, so a list the planner puts at ten
//! times the bound or more is never counted row by row (at a million rows
//! that count cost a scan on every page). V17's index gives the planner
//! statistics of `lower(language)`, the language filter's expression.

use hubpulse_store::graph_lists::{self, Filter, TRUSTED_ESTIMATE};
use hubpulse_testkit::TestDb;

const BOUND: i64 = 10_000;

#[tokio::test]
async fn counts_are_exact_up_to_the_bound_and_estimated_far_above_it() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let client = db.client().await;
    // 150,000 repositories: a third in JavaScript, 7 in Haskell, 12,000 with
    // a description (above the bound, below ten times it).
    client
        .batch_execute(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'o', 'User');
             INSERT INTO repositories (id, owner_id, name, html_url, description, language,
                                       stargazers_count, created_at, updated_at)
               SELECT g, 1, 'r' || g, 'https://github.com/o/r' || g,
                      CASE WHEN g <= 12000 THEN 'd' END,
                      CASE WHEN g <= 7 THEN 'Haskell' WHEN g % 3 = 0 THEN 'JavaScript' END,
                      g % 1000, now(), now()
               FROM generate_series(1, 150000) g;
             ANALYZE repositories;",
        )
        .await
        .unwrap();
    let conn = store.conn().await.unwrap();
    let count = async |filters: Vec<Filter>| {
        graph_lists::count(&conn, "repositories", &filters, BOUND).await
    };

    let all = count(Vec::new()).await.unwrap();
    assert!(all.estimated, "far above the bound: the estimate");
    assert!(all.value >= BOUND * TRUSTED_ESTIMATE, "{}", all.value);

    // Without V17's statistics the planner put any language at 0.5%.
    let js = count(vec![Filter::with(
        "lower(language) = lower($?)",
        "JavaScript".to_owned(),
    )])
    .await
    .unwrap();
    assert!(
        js.estimated && (40_000..60_000).contains(&js.value),
        "{}",
        js.value
    );

    let haskell = count(vec![Filter::with(
        "lower(language) = lower($?)",
        "haskell".to_owned(),
    )])
    .await
    .unwrap();
    assert_eq!((haskell.value, haskell.estimated), (7, false));

    // Above the bound but not ten times it: counted to the bound, then
    // the estimate, never less than the bound + 1.
    let described = count(vec![Filter::bare("description IS NOT NULL")])
        .await
        .unwrap();
    assert!(
        described.estimated && described.value > BOUND,
        "{}",
        described.value
    );

    let exact = count(vec![Filter::with("stargazers_count = $?::bigint", 5i64)])
        .await
        .unwrap();
    assert_eq!((exact.value, exact.estimated), (150, false));
}
