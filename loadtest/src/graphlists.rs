//! `hubpulse-bench graphlists`: the developer graph's lists at scale
//! (issue 13). For every order of `/v1/developers` and `/v1/repositories`
//! (each sort both ways) and two filters of each, page 1 and the page
//! 10,000 pages deep, asked over and over through nginx, one request at a
//! time: the p99 must stay under 10 ms, and each replica's memory flat.
//!
//! The deep page's cursor is not walked to (10,000 requests per case): a
//! bench-only `OFFSET` query finds the last row of the page before, with
//! the list's own sort expression (`graph_lists::Order`), and
//! `Keyset::cursor` encodes it exactly as the API does. The first row the
//! API answers must be the row after it, so a cursor or filter that drifts
//! from the API's fails the case.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubpulse_store::graph_lists::Keyset;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

use crate::bench::Target;
pub use crate::graphcases::{Spec, specs};

pub const DEEP_PAGE: u64 = 10_000;
pub const MAX_P99_MS: f64 = 10.0;
/// Resident memory a replica may gain over the whole run.
pub const MAX_RSS_GROWTH_MB: f64 = 16.0;
/// Requests before the measured ones (connections, caches).
const WARMUP: usize = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub path: String,
    pub query: String,
    /// 1, or the deep page (10,000, or the last page of a shorter list).
    pub page: u64,
    /// Rows of the list before this page.
    pub offset: u64,
    pub requests: usize,
    pub errors: usize,
    /// The page starts at the row `OFFSET` finds, and is full.
    pub first_row_ok: bool,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaMemory {
    pub replica: String,
    pub before_kb: u64,
    pub after_kb: u64,
    pub peak_kb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphListsBench {
    pub developers: i64,
    pub repositories: i64,
    pub per_page: u64,
    pub requests_per_case: usize,
    pub cases: Vec<Case>,
    pub memory: Vec<ReplicaMemory>,
    pub seconds: f64,
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The row at `offset` of the list (sort value as text, id), if any.
async fn row_at(db: &Client, spec: &Spec, offset: u64) -> anyhow::Result<Option<(String, i64)>> {
    let o = spec.order;
    let dir = if o.descending { "DESC" } else { "ASC" };
    let filter = spec.filter.map(|f| format!(" AND {f}")).unwrap_or_default();
    // Named: a bare `stargazers_count` in ORDER BY would otherwise sort
    // by this text column of the same name.
    let sql = format!(
        "SELECT ({key})::text AS sort_key, t.id FROM {table} t WHERE true{filter} \
         ORDER BY {key} {dir}, t.id {dir} OFFSET $1 LIMIT 1",
        key = o.key,
        table = spec.table
    );
    let row = db.query_opt(&sql, &[&(offset as i64)]).await.context(sql)?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Whether a page's body starts at `first` and holds `len` results.
fn page_fits(body: &[u8], first: i64, len: usize) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let results = v["results"].as_array()?;
            Some(results.len() == len && results.first()?["id"].as_i64()? == first)
        })
        .unwrap_or(false)
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    requests: usize,
    first: i64,
    len: usize,
) -> (Vec<f64>, usize, bool) {
    let mut times = Vec::with_capacity(requests);
    let mut errors = 0;
    let mut fits = true;
    for i in 0..WARMUP + requests {
        let t = Instant::now();
        let body = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            _ => None,
        };
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match body {
            Some(body) => {
                if i == 0 || i == WARMUP {
                    fits &= page_fits(&body, first, len);
                }
            }
            None => errors += 1,
        }
        if i >= WARMUP {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    (times, errors, fits)
}

async fn count(db: &Client, sql: &str) -> anyhow::Result<i64> {
    Ok(db.query_one(sql, &[]).await.context(sql.to_owned())?.get(0))
}

pub async fn run(
    base: &str,
    database_url: &str,
    per_page: u64,
    requests: usize,
    replicas: &[(String, u32)],
) -> anyhow::Result<GraphListsBench> {
    if !(1..=100).contains(&per_page) || requests == 0 {
        bail!("per_page is 1 to 100 and requests at least 1");
    }
    let (db, connection) = tokio_postgres::connect(database_url, NoTls)
        .await
        .context("connecting to Postgres")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = base.trim_end_matches('/');
    let started = Instant::now();
    let before: Vec<(String, u32, u64)> = replicas
        .iter()
        .filter_map(|(name, pid)| Some((name.clone(), *pid, memory(*pid)?.0)))
        .collect();
    let mut cases = Vec::new();
    for spec in specs() {
        let filter = spec.filter.map(|f| format!(" AND {f}")).unwrap_or_default();
        let rows = count(
            &db,
            &format!("SELECT count(*) FROM {} t WHERE true{filter}", spec.table),
        )
        .await? as u64;
        let last = rows.div_ceil(per_page).max(1);
        for page in [1, DEEP_PAGE.min(last)] {
            let offset = (page - 1) * per_page;
            let mut url = format!("{base}{}?{}&per_page={per_page}", spec.path, spec.query);
            if page > 1 {
                let (key, id) = row_at(&db, &spec, offset - 1)
                    .await?
                    .context("the row before the deep page")?;
                let cursor = Keyset {
                    key,
                    id,
                    before: false,
                };
                url.push_str(&format!("&cursor={}", cursor.cursor()));
            }
            let first = row_at(&db, &spec, offset).await?.map_or(0, |(_, id)| id);
            let len = rows.saturating_sub(offset).min(per_page) as usize;
            let (times, errors, fits) = measure(&http, &url, requests, first, len).await;
            let case = Case {
                path: spec.path.to_owned(),
                query: spec.query.clone(),
                page,
                offset,
                requests: times.len(),
                errors,
                first_row_ok: fits && rows > 0,
                p50_ms: percentile(&times, 0.50),
                p99_ms: percentile(&times, 0.99),
                max_ms: percentile(&times, 1.0),
            };
            eprintln!(
                "  {}?{} page {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{}{}",
                case.path,
                case.query,
                case.page,
                case.p50_ms,
                case.p99_ms,
                case.max_ms,
                if errors > 0 {
                    format!(", {errors} errors")
                } else {
                    String::new()
                },
                if case.first_row_ok {
                    ""
                } else {
                    ", WRONG ROWS"
                }
            );
            cases.push(case);
        }
    }
    let memory = before
        .into_iter()
        .filter_map(|(replica, pid, before_kb)| {
            let (after_kb, peak_kb) = memory(pid)?;
            Some(ReplicaMemory {
                replica,
                before_kb,
                after_kb,
                peak_kb,
            })
        })
        .collect();
    Ok(GraphListsBench {
        developers: count(&db, "SELECT count(*) FROM developers").await?,
        repositories: count(&db, "SELECT count(*) FROM repositories").await?,
        per_page,
        requests_per_case: requests,
        cases,
        memory,
        seconds: started.elapsed().as_secs_f64(),
    })
}

pub fn targets(b: &GraphListsBench) -> Vec<Target> {
    let worst = b.cases.iter().max_by(|x, y| x.p99_ms.total_cmp(&y.p99_ms));
    let errors: usize = b.cases.iter().map(|c| c.errors).sum();
    let wrong = b.cases.iter().filter(|c| !c.first_row_ok).count();
    let shallow = b
        .cases
        .iter()
        .filter(|c| c.page != 1 && c.page < DEEP_PAGE)
        .count();
    let slow = b.cases.iter().filter(|c| c.p99_ms >= MAX_P99_MS).count();
    let lists = b.cases.len() / 2;
    let mut measured = match worst {
        Some(c) => format!(
            "worst p99 {:.2} ms ({}?{} page {}); {slow} of {} cases at or over",
            c.p99_ms,
            c.path,
            c.query,
            c.page,
            b.cases.len()
        ),
        None => "not measured".into(),
    };
    for (n, what) in [
        (errors, "errors"),
        (wrong, "pages not starting at the expected row"),
        (shallow, "deep pages short of 10,000"),
    ] {
        if n > 0 {
            measured.push_str(&format!("; {n} {what}"));
        }
    }
    let memory = if b.memory.is_empty() {
        "not measured".to_owned()
    } else {
        b.memory
            .iter()
            .map(|m| {
                format!(
                    "{} {:.1} -> {:.1} MB (peak {:.1})",
                    m.replica,
                    m.before_kb as f64 / 1024.0,
                    m.after_kb as f64 / 1024.0,
                    m.peak_kb as f64 / 1024.0
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        Target {
            name: format!(
                "graph lists through nginx ({} developers, {} repositories): {lists} orders and filters, page 1 and page {DEEP_PAGE}",
                b.developers, b.repositories
            ),
            wanted: format!(
                "p99 < {MAX_P99_MS} ms each ({} requests each), 0 errors, each page where OFFSET puts it",
                b.requests_per_case
            ),
            measured,
            passed: !b.cases.is_empty() && slow == 0 && errors == 0 && wrong == 0 && shallow == 0,
        },
        Target {
            name: "graph lists: memory of each replica".into(),
            wanted: format!("flat: RSS grows < {MAX_RSS_GROWTH_MB} MB over the run"),
            measured: memory,
            passed: !b.memory.is_empty()
                && b.memory.iter().all(|m| {
                    (m.after_kb.saturating_sub(m.before_kb)) as f64 / 1024.0 < MAX_RSS_GROWTH_MB
                }),
        },
    ]
}

/// Every case's latency, as a Markdown table.
pub fn markdown(b: &GraphListsBench) -> String {
    let mut md = format!(
        "\n## Graph lists ({} developers, {} repositories, {} per page, {} requests per case)\n\n\
         | list | query | page | p50 ms | p99 ms | max ms |\n|---|---|--:|--:|--:|--:|\n",
        b.developers, b.repositories, b.per_page, b.requests_per_case
    );
    for c in &b.cases {
        md.push_str(&format!(
            "| {} | `{}` | {} | {:.2} | {:.2} | {:.2} |\n",
            c.path, c.query, c.page, c.p50_ms, c.p99_ms, c.max_ms
        ));
    }
    md
}
