//! The client over real HTTP against the simulator: pagination, retries,
//! timeouts, rate limits, revalidation, and secrets kept out of every string.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{Search, TOKEN, client, crawl, faults, local_budget, settings};
use hubpulse_domain::Topic;
use hubpulse_domain::rate::RateBudget;
use hubpulse_github::{
    Credential, Disposition, GithubClient, GithubError, Operation, Page, Resource, SearchQuery,
    Url, UserToken,
};
use hubpulse_sim::{FaultKind, Faults};
use hubpulse_testkit::TestSim;
use serde_json::json;

/// A signed-in user's token, kept out of every string as the service's is.
const USER_TOKEN: &str = "gho_UserTokenThatMustNotLeak0123456789ab";

fn kubernetes() -> SearchQuery {
    SearchQuery::topic(Topic::parse("kubernetes").unwrap())
}

#[tokio::test]
async fn follows_link_through_every_reachable_page_of_a_large_topic() {
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let first = client.search_repositories_url(&kubernetes());
    assert_eq!(first.path(), "/search/repositories");

    let crawl = crawl(&client, first).await.unwrap();
    assert_eq!(crawl.total_count, sim.topic_sizes().await["kubernetes"]);
    assert!(crawl.total_count > 2_000);
    assert_eq!(
        crawl.pages.len(),
        10,
        "GitHub serves 1,000 results, 100 a page"
    );
    let ids: HashSet<i64> = crawl.items.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 1_000, "every page new, none repeated");
    // The simulator writes its Link URLs under the other path alias: a
    // client that rebuilt them from the request's path would not get here.
    assert!(crawl.pages[1].0.path().starts_with("/api/v3/"));
    assert!(crawl.pages.iter().all(|(_, attempts)| *attempts == 1));

    // A created: window with fewer than 1,000 repositories is complete.
    let oldest = crawl.items.iter().map(|r| r.created_at).min().unwrap();
    let window = kubernetes().created_between(oldest - TimeDelta::days(3_650), oldest);
    let windowed = crawl_all(&client, &window).await;
    assert!(windowed.total_count <= 1_000 && windowed.total_count > 0);
    assert_eq!(windowed.items.len() as u64, windowed.total_count);
    assert!(windowed.items.iter().all(|r| r.created_at <= oldest));
}

async fn crawl_all(client: &GithubClient, query: &SearchQuery) -> common::Crawl {
    crawl(client, client.search_repositories_url(query))
        .await
        .unwrap()
}

#[tokio::test]
async fn server_errors_dropped_connections_and_garbled_bodies_are_retried_to_success() {
    let sim = TestSim::roomy().await;
    sim.set_faults(faults(json!({
        "error_rate": 0.2,
        "drop_rate": 0.1,
        "truncated_rate": 0.1,
        "malformed_rate": 0.05
    })))
    .await;
    let mut settings = settings(&sim.url);
    settings.max_retries = 6;
    let registry = prometheus::Registry::new();
    let client = GithubClient::new(&settings, local_budget(&settings), Some(&registry)).unwrap();

    let crawl = crawl_all(&client, &kubernetes()).await;
    assert_eq!(crawl.items.len(), 1_000);
    let retried: u32 = crawl.pages.iter().map(|(_, a)| a - 1).sum();
    let stats = sim.stats().await;
    let faults = stats.injected(&FaultKind::ALL);
    assert!(
        stats.injected(&[FaultKind::Drop]) > 0,
        "{:?}",
        stats.injected
    );
    assert!(faults > 0);
    assert_eq!(u64::from(retried), faults, "one retry per injected fault");

    let text = metrics_text(&registry);
    assert!(text.contains(r#"github_retries_total{endpoint="search/repositories",reason="5xx"}"#));
    assert!(text.contains(r#"github_calls_total{endpoint="search/repositories",status="error"}"#));
    assert!(text.contains(r#"github_rate_limit_remaining{resource="search"}"#));
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_given_up_on_after_the_retries() {
    let sim = TestSim::roomy().await;
    sim.set_faults(faults(json!({"error_rate": 1.0}))).await;
    let mut settings = settings(&sim.url);
    settings.max_retries = 2;
    let client = client(&settings);
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &client.search_repositories_url(&kubernetes()),
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, GithubError::Server { attempts: 3, status } if status >= 500),
        "{err:?}"
    );
    assert_eq!(sim.stats().await.requests, 3);
}

#[tokio::test]
async fn slow_replies_time_out_and_are_retried() {
    let sim = TestSim::roomy().await;
    sim.set_faults(faults(json!({"slow_rate": 0.3, "slow_ms": 1_500})))
        .await;
    let mut settings = settings(&sim.url);
    settings.request_timeout_ms = 300;
    settings.max_retries = 6;
    let client = client(&settings);

    let crawl = crawl_all(&client, &kubernetes()).await;
    assert_eq!(crawl.items.len(), 1_000);
    // A reply the client gave up on is never recorded by the simulator
    // (the handler is dropped mid-sleep), so the retries show on our side.
    assert!(crawl.pages.iter().any(|(_, attempts)| *attempts > 1));
}

#[tokio::test]
async fn a_reply_that_never_comes_in_time_is_a_timeout() {
    let sim = TestSim::roomy().await;
    sim.set_faults(faults(json!({"slow_rate": 1.0, "slow_ms": 2_000})))
        .await;
    let mut settings = settings(&sim.url);
    settings.request_timeout_ms = 150;
    settings.max_retries = 2;
    let client = client(&settings);
    let started = std::time::Instant::now();
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &client.search_repositories_url(&kubernetes()),
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, GithubError::Timeout { attempts: 3 }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_403_with_no_quota_left_waits_for_the_reset_and_holds_later_calls() {
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let url = client.search_repositories_url(&kubernetes());
    let first = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap();
    let reset = first.rate().unwrap().reset;

    sim.set_faults(faults(json!({"rate_limit_403": 1}))).await;
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    match err {
        GithubError::RateLimited {
            resource,
            until,
            secondary,
        } => {
            assert_eq!(resource, Resource::Search);
            assert_eq!(until, reset);
            assert!(!secondary);
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(client.rate_limits()[&Resource::Search].remaining, 0);

    // The budget learnt it: the next call is held without asking GitHub.
    let requests = sim.stats().await.requests;
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, GithubError::BudgetExhausted { until, .. } if until >= reset),
        "{err:?}"
    );
    assert_eq!(err.reschedule_at().map(|t| t >= reset), Some(true));
    assert_eq!(sim.stats().await.requests, requests);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_a_secondary_limit_is_flagged() {
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let url = client.search_repositories_url(&kubernetes());

    sim.set_faults(faults(json!({"rate_limit_429": 1, "retry_after_secs": 7})))
        .await;
    let before = Utc::now();
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    let GithubError::RateLimited {
        until, secondary, ..
    } = err
    else {
        panic!("expected RateLimited, got {err:?}")
    };
    let wait = until - before;
    assert!(
        wait >= TimeDelta::seconds(6) && wait <= TimeDelta::seconds(9),
        "{wait}"
    );
    assert!(secondary, "quota was left: not the primary limit");

    // Another client of the same token and budget would be held as well.
    let settings = settings(&sim.url);
    let budget = local_budget(&settings);
    let shared = GithubClient::new(&settings, budget.clone(), None).unwrap();
    sim.set_faults(faults(
        json!({"secondary_limit": 1, "retry_after_secs": 10}),
    ))
    .await;
    let err = shared
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GithubError::RateLimited {
                secondary: true,
                ..
            }
        ),
        "{err:?}"
    );
    let other = GithubClient::new(&settings, budget as Arc<dyn RateBudget>, None).unwrap();
    let err = other
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, GithubError::BudgetExhausted { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn revalidating_an_unchanged_page_costs_no_quota() {
    let sim = TestSim::roomy().await;
    let settings = settings(&sim.url);
    let budget = local_budget(&settings);
    let client = GithubClient::new(&settings, budget.clone(), None).unwrap();
    let url = client.search_repositories_url(&kubernetes());

    let Page::Fresh { etag, rate, .. } = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap()
    else {
        panic!("the first call is fresh")
    };
    let etag = etag.expect("the simulator sends ETags");
    let remaining = rate.unwrap().remaining;

    for _ in 0..3 {
        let page = client
            .get::<Search>(
                Operation::SearchRepositories,
                &url,
                &Credential::Service,
                Some(&etag),
            )
            .await
            .unwrap();
        assert!(matches!(page, Page::NotModified { .. }), "{page:?}");
        assert_eq!(page.rate().unwrap().remaining, remaining);
    }
    assert_eq!(sim.stats().await.with_status(304), 3);
    assert_eq!(sim.search_quota_used().await, 1);
    let state = budget.state(client.token_id(), Resource::Search).unwrap();
    assert_eq!(state.remaining, remaining, "each 304's unit came back");

    // A stale ETag gets the page again.
    let page = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            Some("W/\"stale\""),
        )
        .await
        .unwrap();
    assert!(matches!(page, Page::Fresh { .. }));
}

#[tokio::test]
async fn an_unreachable_page_and_a_foreign_url_are_plain_errors() {
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let mut past_the_cap = client.search_repositories_url(&kubernetes());
    past_the_cap.query_pairs_mut().append_pair("page", "11");
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &past_the_cap,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::Unprocessable { .. }), "{err:?}");
    assert_eq!(err.disposition(), Disposition::GiveUp);

    let foreign = Url::parse("http://192.0.2.1/search/repositories").unwrap();
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &foreign,
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::Url(_)), "{err:?}");
}

#[tokio::test]
async fn bodies_garbled_every_time_end_as_decode_errors() {
    let sim = TestSim::roomy().await;
    sim.set_faults(faults(json!({"malformed_rate": 1.0}))).await;
    let mut settings = settings(&sim.url);
    settings.max_retries = 2;
    let client = client(&settings);
    let err = client
        .get::<Search>(
            Operation::SearchRepositories,
            &client.search_repositories_url(&kubernetes()),
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GithubError::Decode { endpoint, .. } if endpoint == "search/repositories"),
        "{err:?}"
    );
    assert_eq!(sim.stats().await.requests, 3, "retried, then given up");
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_not_retried() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct NotASearch {
        login: String,
    }
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let err = client
        .get::<NotASearch>(
            Operation::SearchRepositories,
            &client.search_repositories_url(&kubernetes()),
            &Credential::Service,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::Decode { .. }), "{err:?}");
    assert_eq!(sim.stats().await.requests, 1);
}

/// Everything the tracing macros write, from every crate, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_shows_in_errors_debug_output_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = TestSim::roomy().await;
    let mut settings = settings(&sim.url);
    settings.max_retries = 1;
    settings.request_timeout_ms = 200;
    // Every denial comes back as an error rather than being waited out.
    settings.budget_wait_max_ms = 0;
    let client = client(&settings);
    let url = client.search_repositories_url(&kubernetes());
    let search = |client: &GithubClient, url: &Url| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get::<Search>(
                    Operation::SearchRepositories,
                    &url,
                    &Credential::Service,
                    None,
                )
                .await
                .unwrap_err()
        }
    };

    let mut errors = Vec::new();
    for faults in [
        json!({"error_rate": 1.0}),
        json!({"slow_rate": 1.0, "slow_ms": 1_000}),
        json!({"malformed_rate": 1.0}),
        json!({"secondary_limit": 1, "retry_after_secs": 1}),
    ] {
        sim.set_faults(common::faults(faults)).await;
        errors.push(search(&client, &url).await);
        sim.set_faults(Faults::default()).await;
    }
    errors.push(search(&client, &url).await); // held by the pause above
    let mut past_the_cap = url.clone();
    past_the_cap.query_pairs_mut().append_pair("page", "11");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    errors.push(search(&client, &past_the_cap).await);
    sim.set_faults(faults(json!({"rate_limit_403": 1}))).await;
    errors.push(search(&client, &url).await);
    let unreachable = common::settings("http://127.0.0.1:1");
    errors.push(
        search(
            &common::client(&unreachable),
            &Url::parse("http://127.0.0.1:1/search/repositories").unwrap(),
        )
        .await,
    );
    errors.push(search(&client, &Url::parse("http://192.0.2.1/x").unwrap()).await);
    let bad_token = {
        let mut s = common::settings(&sim.url);
        s.token = format!("{TOKEN}\n").into();
        GithubClient::new(&s, local_budget(&s), None).unwrap_err()
    };
    errors.push(bad_token);

    // A signed-in user's token, on a failing call and in a Debug.
    let user = Credential::User(UserToken::new(&USER_TOKEN.into()).unwrap());
    sim.set_faults(faults(json!({"error_rate": 1.0}))).await;
    errors.push(
        client
            .get::<Search>(Operation::SearchRepositories, &url, &user, None)
            .await
            .unwrap_err(),
    );
    sim.set_faults(faults(json!({}))).await;

    let kinds: HashSet<String> = errors
        .iter()
        .map(|e| {
            format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in [
        "Server",
        "Timeout",
        "Decode",
        "RateLimited",
        "BudgetExhausted",
        "Unprocessable",
        "Transport",
        "Url",
        "Config",
    ] {
        assert!(kinds.contains(kind), "{kind} not provoked: {kinds:?}");
    }
    let mut strings: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .collect();
    strings.push(format!("{client:?}"));
    strings.push(format!("{user:?}"));
    strings.push(format!("{settings:?}"));
    strings.push(String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned());
    assert!(
        strings.last().unwrap().contains("github"),
        "logs were captured"
    );
    for s in &strings {
        for token in [TOKEN, USER_TOKEN] {
            assert!(!s.contains(token), "token leaked: {s}");
            assert!(!s.contains(&token[4..20]), "part of a token leaked: {s}");
        }
    }
}

fn metrics_text(registry: &prometheus::Registry) -> String {
    let mut out = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry.gather(), &mut out)
        .unwrap();
    out
}

/// The body of a fresh page; anything else fails the test.
fn fresh<T>(page: Page<T>) -> T {
    match page {
        Page::Fresh { body, .. } => body,
        _ => panic!("expected a fresh page"),
    }
}

#[tokio::test]
async fn a_repository_and_its_star_count_answer_by_name_and_by_id() {
    #[derive(serde::Deserialize)]
    struct Count {
        count: i64,
    }
    let sim = TestSim::spawn_with(|_| {}).await;
    let client = client(&settings(&sim.url));
    let account = sim.admin.account("graph-seed").await.unwrap();
    let repo = account
        .repositories
        .iter()
        .find(|r| !r.empty)
        .expect("graph-seed owns a repository");
    let (owner, name) = repo.full_name.split_once('/').unwrap();
    let service = Credential::Service;
    let by_name = client.url(Operation::GetRepo, &[owner, name], &[]).unwrap();
    let by_id = client
        .repository_url(Operation::GetRepo, repo.id, &[])
        .unwrap();
    assert!(
        by_id
            .path()
            .ends_with(&format!("/repositories/{}", repo.id))
    );
    let named: hubpulse_domain::wire::RepoPayload = fresh(
        client
            .get(Operation::GetRepo, &by_name, &service, None)
            .await
            .unwrap(),
    );
    let numbered: hubpulse_domain::wire::RepoPayload = fresh(
        client
            .get(Operation::GetRepo, &by_id, &service, None)
            .await
            .unwrap(),
    );
    assert_eq!(
        (named.id, &named.full_name),
        (numbered.id, &numbered.full_name)
    );
    for url in [
        client.url(Operation::RepoStargazerCount, &[owner, name], &[]),
        client.repository_url(Operation::RepoStargazerCount, repo.id, &[]),
    ] {
        let count: Count = fresh(
            client
                .get(Operation::RepoStargazerCount, &url.unwrap(), &service, None)
                .await
                .unwrap(),
        );
        assert_eq!(count.count, named.stargazers_count, "{}", repo.full_name);
    }
}
