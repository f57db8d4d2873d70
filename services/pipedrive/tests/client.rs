//! The client against the simulator's Pipedrive v2 stand-in: deals and
//! activities, cursor pages, and each error by what to do about it.

use hubpulse_pipedrive::{
    Disposition, NewActivity, NewDeal, PipedriveClient, PipedriveError, PipedriveSettings,
};
use hubpulse_sim::admin_client::SimAdmin;
use hubpulse_sim::{PipedriveFaults, SimSettings};

async fn start(burst: u64) -> (String, SimAdmin) {
    let mut settings = SimSettings::for_tests(3);
    settings.pipedrive.burst_limit = burst;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hubpulse_sim::run(
        listener,
        settings,
        std::future::pending(),
    ));
    (base.clone(), SimAdmin::new(base).unwrap())
}

fn client(base: &str, token: &str, burst: u32) -> PipedriveClient {
    PipedriveClient::new(&PipedriveSettings {
        company_domain: "example".into(),
        base_url: format!("{base}/api/v2"),
        api_token: token.to_owned().into(),
        activity_type: "task".into(),
        request_timeout_ms: 2000,
        burst_per_2s: burst,
    })
    .unwrap()
}

fn activity(deal_id: i64, n: usize) -> NewActivity {
    NewActivity {
        subject: format!("file {n}"),
        kind: "task".into(),
        deal_id,
        done: true,
        note: format!("<p>marker {n}</p>"),
    }
}

#[tokio::test]
async fn deals_and_activities_round_trip_through_cursor_pages() {
    let (base, admin) = start(1000).await;
    let pd = client(&base, "sim-pipedrive-token", 1000);
    let deal = pd
        .create_deal(&NewDeal {
            title: "gists of octocat".into(),
        })
        .await
        .unwrap();
    for n in 0..3 {
        pd.create_activity(&activity(deal.id, n)).await.unwrap();
    }
    let page = pd.deal_activities(deal.id, None).await.unwrap();
    assert_eq!(page.data.len(), 3);
    assert!(page.next_cursor.is_none());
    assert_eq!(page.data[2].note.as_deref(), Some("<p>marker 2</p>"));
    let deals = pd.deals(None).await.unwrap();
    assert_eq!(deals.data[0].title, "gists of octocat");
    assert_eq!(admin.pipedrive().await.unwrap().activities, 3);
}

#[tokio::test]
async fn each_error_says_what_to_do() {
    let (base, admin) = start(1000).await;
    let wrong = client(&base, "not-the-token", 1000);
    let err = wrong.deals(None).await.unwrap_err();
    assert!(matches!(err, PipedriveError::Unauthorized), "{err:?}");
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert!(!format!("{err} {err:?}").contains("not-the-token"));

    let pd = client(&base, "sim-pipedrive-token", 1000);
    let deal = pd
        .create_deal(&NewDeal { title: "d".into() })
        .await
        .unwrap();
    admin
        .set_pipedrive_faults(&PipedriveFaults {
            rate_limit_429: 1,
            reset_secs: 30,
            ..Default::default()
        })
        .await
        .unwrap();
    let err = pd.deals(None).await.unwrap_err();
    assert!(
        matches!(err, PipedriveError::RateLimited { reset_secs: 30 }),
        "{err:?}"
    );
    match err.disposition() {
        Disposition::RescheduleAt(at) => {
            let secs = (at - chrono::Utc::now()).num_seconds();
            assert!(
                (25..=31).contains(&secs),
                "seconds from now, not an epoch: {secs}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A fresh client: the first one now pauses for the 429's 30 seconds.
    let pd = client(&base, "sim-pipedrive-token", 1000);
    admin
        .set_pipedrive_faults(&PipedriveFaults {
            deals_capped: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let err = pd
        .create_deal(&NewDeal {
            title: "more".into(),
        })
        .await
        .unwrap_err();
    match &err {
        PipedriveError::FeatureCapped { code, .. } => {
            assert_eq!(code, "feature_capping_deals_limit")
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("feature_capping_deals_limit"));
    admin
        .set_pipedrive_faults(&PipedriveFaults {
            drop_after_accept_rate: 1.0,
            ..Default::default()
        })
        .await
        .unwrap();
    let err = pd.create_activity(&activity(deal.id, 9)).await.unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");
    assert_eq!(err.disposition(), Disposition::Retry);
    admin.clear_pipedrive_faults().await.unwrap();
    let listed = pd.deal_activities(deal.id, None).await.unwrap();
    assert_eq!(listed.data.len(), 1, "the dropped create landed");
    let bad = pd
        .create_activity(&NewActivity {
            kind: "nap".into(),
            ..activity(deal.id, 1)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(bad, PipedriveError::Rejected { status: 400, .. }),
        "{bad:?}"
    );
    assert!(!bad.outcome_unknown());
}

#[tokio::test]
async fn pacing_keeps_a_burst_under_the_limit() {
    let (base, admin) = start(10).await;
    let pd = client(&base, "sim-pipedrive-token", 8);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        pd.deals(None).await.unwrap();
    }
    let state = admin.pipedrive().await.unwrap();
    assert_eq!(state.counts.burst_429, 0, "{state:?}");
    assert!(
        started.elapsed().as_millis() >= 2000,
        "20 at 8 per 2 s take over 2 s"
    );
}
