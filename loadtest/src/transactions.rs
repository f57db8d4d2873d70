//! The goose transactions, and the checks made before a run starts.
//!
//! Every read drains its body (goose times the first byte; the bytes still
//! have to travel) and checks the answer: a 200 with a body in the encoding
//! asked for, or a 304 when the request sent the view's ETag. Anything else
//! is a failed request, and a failed request fails the run.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use goose::goose::{
    GooseMethod, GooseRequest, GooseUser, Transaction, TransactionError, TransactionFunction,
    TransactionResult,
};
use hubpulse_cache::Cache;
use hubpulse_client::{ApiClient, ViewKind, ViewQuery};
use hubpulse_runtime::backoff::{Backoff, Retryable};
use rand::Rng;

use crate::plan::{Plan, Scenario};

/// `Accept-Encoding` values the warm reads send, and the `Content-Encoding`
/// each must come back with.
const ENCODINGS: [(Option<&str>, Option<&str>); 3] = [
    (None, None),
    (Some("gzip"), Some("gzip")),
    (Some("gzip, br"), Some("br")),
];

/// The view routes, and the name each is reported under.
const VIEWS: [(&str, &str); 3] = [
    ("/api/", "/api/{topic}"),
    ("/api/popularity/", "/api/popularity/{topic}"),
    ("/api/activity/", "/api/activity/{topic}"),
];

/// Share of the warm reads that send `If-None-Match`.
const CONDITIONAL_SHARE: f64 = 0.2;

/// What every user of a run reads from.
pub(crate) struct Shared {
    pub(crate) plan: Plan,
    cache: Option<Cache>,
    /// Every warm view path with its ETag, learnt before the run.
    views: Vec<(String, &'static str, String)>,
}

impl Shared {
    pub(crate) fn new(plan: Plan, cache: Option<Cache>, etags: HashMap<String, String>) -> Self {
        let mut views = Vec::new();
        for topic in &plan.topics {
            for (prefix, name) in VIEWS {
                let path = format!("{prefix}{topic}");
                let etag = etags.get(&path).cloned().unwrap_or_default();
                views.push((path, name, etag));
            }
        }
        Self { plan, cache, views }
    }
}

type TransactionFuture<'r> = Pin<Box<dyn Future<Output = TransactionResult> + Send + 'r>>;
pub(crate) type TransactionFn = fn(&mut GooseUser, Arc<Shared>) -> TransactionFuture<'_>;

/// A goose transaction that calls `f` with the run's shared state.
pub(crate) fn transaction(name: &str, shared: &Arc<Shared>, f: TransactionFn) -> Transaction {
    let shared = shared.clone();
    Transaction::new(boxed(move |user| f(user, shared.clone()))).set_name(name)
}

fn boxed<F>(f: F) -> TransactionFunction
where
    F: for<'r> Fn(&'r mut GooseUser) -> TransactionFuture<'r> + Send + Sync + 'static,
{
    Arc::new(f)
}

fn custom(message: String) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(message))
}

/// One GET, checked. `encoding`: the `Content-Encoding` a 200 must carry
/// (`Some(None)`: none at all; `None`: not checked).
async fn get(
    user: &mut GooseUser,
    path: &str,
    name: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
    encoding: Option<Option<&str>>,
) -> TransactionResult {
    let mut builder = user.get_request_builder(&GooseMethod::Get, path)?;
    if let Some(accept) = accept {
        builder = builder.header("accept-encoding", accept);
    }
    if let Some(etag) = if_none_match {
        builder = builder.header("if-none-match", etag);
    }
    let mut request = GooseRequest::builder()
        .method(GooseMethod::Get)
        .path(path)
        .name(name)
        .set_request_builder(builder);
    // Conditional reads expect a 304; a 200 (the view changed since) passes too.
    if if_none_match.is_some() {
        request = request.expect_status_code(304);
    }
    let request = request.build();
    let mut goose = user.request(request).await?;
    // A failed connection was recorded as a failure by goose already.
    let Ok(response) = goose.response else {
        return Ok(());
    };
    let status = response.status().as_u16();
    let got_encoding = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => {
            return user.set_failure(
                &format!("{name}: body cut short: {err}"),
                &mut goose.request,
                None,
                None,
            );
        }
    };
    match status {
        200 if body.is_empty() => {
            user.set_failure(&format!("{name}: empty body"), &mut goose.request, None, None)
        }
        200 => match encoding {
            Some(expected) if got_encoding.as_deref() != expected => user.set_failure(
                &format!(
                    "{name}: content-encoding {got_encoding:?}, expected {expected:?} for accept-encoding {accept:?}"
                ),
                &mut goose.request,
                None,
                None,
            ),
            _ if if_none_match.is_some() => user.set_success(&mut goose.request),
            _ => Ok(()),
        },
        // Goose has judged every other status by the one expected.
        _ => Ok(()),
    }
}

/// A random warm view, in a random encoding, a share of them conditional.
pub(crate) fn cached_read(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionFuture<'_> {
    Box::pin(async move {
        let (view, encoding, conditional) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..shared.views.len()),
                ENCODINGS[rng.random_range(0..ENCODINGS.len())],
                rng.random_bool(CONDITIONAL_SHARE),
            )
        };
        let (path, name, etag) = &shared.views[view];
        let if_none_match = (conditional && !etag.is_empty()).then_some(etag.as_str());
        get(
            user,
            path,
            name,
            encoding.0,
            if_none_match,
            Some(encoding.1),
        )
        .await
    })
}

/// A random prefix of a popularity view, in a random encoding.
pub(crate) fn limit_read(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionFuture<'_> {
    Box::pin(async move {
        let (topic, limit, accept) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..shared.plan.topics.len()),
                rng.random_range(1..500),
                ENCODINGS[rng.random_range(0..ENCODINGS.len())].0,
            )
        };
        let path = format!(
            "/api/popularity/{}?limit={limit}",
            shared.plan.topics[topic]
        );
        // A prefix is compressed by the response layer, in the encoding it prefers.
        get(
            user,
            &path,
            "/api/popularity/{topic}?limit=N",
            accept,
            None,
            None,
        )
        .await
    })
}

/// The first topic's popularity view as brotli: what the static limit serves.
pub(crate) fn max_read(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionFuture<'_> {
    Box::pin(async move {
        let path = format!("/api/popularity/{}", shared.plan.topics[0]);
        get(
            user,
            &path,
            "/api/popularity/{topic}",
            Some("gzip, br"),
            None,
            Some(Some("br")),
        )
        .await
    })
}

/// Drops this user's cold topic from Redis, waits out the replicas'
/// in-process cache, then reads its three views: each a Redis miss answered
/// from Postgres (and written back to Redis, which the next drop undoes).
pub(crate) fn cold_reads(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionFuture<'_> {
    Box::pin(async move {
        let topics = &shared.plan.cold_topics;
        let topic = &topics[user.weighted_users_index % topics.len()];
        let cache = shared
            .cache
            .as_ref()
            .ok_or_else(|| custom("the cold scenario has no Redis".into()))?;
        cache
            .delete_views(topic)
            .await
            .map_err(|e| custom(format!("dropping the views of {topic}: {e}")))?;
        // A replica that served this view within the TTL still holds it.
        tokio::time::sleep(shared.plan.process_ttl + Duration::from_millis(250)).await;
        for (prefix, name) in VIEWS {
            let path = format!("{prefix}{topic}");
            get(
                user,
                &path,
                &format!("cold {name}"),
                Some("gzip, br"),
                None,
                Some(Some("br")),
            )
            .await?;
        }
        Ok(())
    })
}

/// `POST /update_cache` (202 expected), then a pause.
pub(crate) fn update_cache(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionFuture<'_> {
    Box::pin(async move {
        let token = shared.plan.admin_token.as_deref().unwrap_or_default();
        let builder = user
            .get_request_builder(&GooseMethod::Post, "/update_cache")?
            .bearer_auth(token);
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path("/update_cache")
            .name("/update_cache")
            .set_request_builder(builder)
            .expect_status_code(202)
            .build();
        let goose = user.request(request).await?;
        if let Ok(response) = goose.response {
            let _ = response.bytes().await;
        }
        tokio::time::sleep(shared.plan.refresh_every).await;
        Ok(())
    })
}

/// Waits for the cold scenario's Redis connection.
pub(crate) async fn wait_connected(cache: &Cache) -> anyhow::Result<()> {
    (|| cache.ping())
        .retry(Backoff::POLL.within(Duration::from_secs(5)))
        .await
        .map_err(|err| anyhow::anyhow!("Redis did not answer: {err}"))
}

/// Checks, before any load, that every view the scenario reads answers 200
/// with items, and learns the warm views' ETags. A run against a topic that
/// was never crawled stops here, saying so, instead of failing every request.
pub(crate) async fn preflight(
    host: &str,
    scenario: Scenario,
    plan: &Plan,
) -> anyhow::Result<HashMap<String, String>> {
    let api = ApiClient::builder(host)
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut etags = HashMap::new();
    let views: Vec<(ViewKind, &str)> = match scenario {
        // The static limit answers only this path, and only in brotli.
        Scenario::Max => {
            api.view(
                ViewKind::Popularity,
                plan.topics[0].as_str(),
                &ViewQuery::default().accept_encoding("gzip, br"),
            )
            .await?;
            return Ok(etags);
        }
        Scenario::Cold => plan
            .cold_topics
            .iter()
            .map(|t| (ViewKind::Popularity, t.as_str()))
            .collect(),
        _ => plan
            .topics
            .iter()
            .flat_map(|t| {
                ViewKind::ALL
                    .into_iter()
                    .map(move |route| (route, t.as_str()))
            })
            .collect(),
    };
    for (route, topic) in views {
        let path = format!("{}{topic}", route.route_prefix());
        let view = api.view(route, topic, &ViewQuery::default()).await?;
        let items: Vec<serde_json::Value> = view
            .items()
            .with_context(|| format!("GET {host}{path}: not a JSON array"))?;
        if items.is_empty() {
            bail!("GET {host}{path} is empty: crawl the topic first (POST /update_cache)");
        }
        if let Some(etag) = view.etag() {
            etags.insert(path, etag.to_owned());
        }
    }
    Ok(etags)
}
