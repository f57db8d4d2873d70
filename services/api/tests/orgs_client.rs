//! The typed client's `/v1/orgs` calls against the real application, and
//! the chart kept in Redis as the views are: a kept chart is served without
//! Postgres, and an untrack drops it.

use std::time::Duration;

use hubpulse_client::{ApiClient, MonthQuery, StatusCode};
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim, eventually};
use secrecy::SecretString;

const ORG: &str = "hubpulse-org";

#[tokio::test]
async fn the_typed_client_tracks_reads_and_untracks_an_org_and_the_chart_is_kept() {
    let sim = TestSim::spawn_with(|_| {}).await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.github.base_url = url;
        s.github.token = SecretString::from("ghp_orgClientTestToken0000000000000000000");
        s.workers.count = 4;
        s.orgs.stats_retry_base_ms = 40;
        s.orgs.stats_retry_cap_secs = 1;
    })
    .await;
    let api = ApiClient::builder(app.url(""))
        .admin_token(SecretString::from(ADMIN_TOKEN))
        .build()
        .unwrap();

    let change = api.track_org(ORG).await.unwrap();
    assert!(
        change.tracked && change.changed && change.job_id.is_some(),
        "{change:?}"
    );
    let db = app.db.client().await;
    eventually("the sync settled", Duration::from_secs(90), || async {
        let live: i64 = db
            .query_one(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'rescheduled')",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if live == 0 {
            Ok(())
        } else {
            Err(format!("{live} jobs live"))
        }
    })
    .await;
    let owners = api.orgs().await.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!((owners[0].name.as_str(), owners[0].repositories), (ORG, 50));

    let page = api
        .new_contributors(
            ORG,
            &MonthQuery {
                page: Some(1),
                page_size: Some(3),
                ..MonthQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.page, page.page_size, page.items.len()), (1, 3, 3));
    assert!(page.total_records > 3, "{page:?}");
    assert!(
        page.items[0].repo_name.starts_with("hubpulse-org/"),
        "{page:?}"
    );
    let queued = api.sync_orgs().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].owner, ORG);

    let chart = api
        .new_contributors_svg(ORG, &MonthQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(chart.status, StatusCode::OK);
    assert!(chart.body.starts_with(b"<svg"), "{}", chart.text());
    let etag = chart.headers["etag"].to_str().unwrap().to_owned();
    let cache = app.redis.cache().await;
    assert_eq!(
        cache
            .get_chart(ORG, "from=None;to=None;repo=None")
            .await
            .unwrap(),
        Some(chart.body.clone()),
        "the chart is kept in Redis"
    );
    // Served from Redis: rows gone from Postgres do not change it.
    db.execute("DELETE FROM contributor_first_month", &[])
        .await
        .unwrap();
    let again = api
        .new_contributors_svg(ORG, &MonthQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(again.body, chart.body);
    let unchanged = api
        .new_contributors_svg(ORG, &MonthQuery::default(), Some(&etag))
        .await
        .unwrap();
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert!(
        api.new_contributors_svg_url(ORG, &MonthQuery::default())
            .ends_with("/v1/orgs/hubpulse-org/new-contributors.svg")
    );

    let gone = api.untrack_org(ORG).await.unwrap().expect("was tracked");
    assert!(!gone.tracked);
    assert_eq!(
        cache
            .get_chart(ORG, "from=None;to=None;repo=None")
            .await
            .unwrap(),
        None,
        "an untrack drops the owner's charts"
    );
    let err = api
        .new_contributors_svg(ORG, &MonthQuery::default(), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert!(api.untrack_org(ORG).await.unwrap().is_none());
    app.shutdown().await;
}
