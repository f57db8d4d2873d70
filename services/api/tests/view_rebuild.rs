//! A view read over HTTP, without pause, by several clients in every
//! encoding while it is rebuilt and swapped hundreds of times: each reply
//! must be one whole view, exactly the body its ETag names.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hubpulse_cache::{Cache, View};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::{TestApp, test_settings};
use serde_json::{Value, json};

const SWAPS: usize = 300;
const READERS: usize = 4;

/// Views of different lengths and contents, as successive crawls would build.
fn versions() -> Vec<View> {
    [500usize, 499, 250, 1]
        .iter()
        .enumerate()
        .map(|(version, &len)| {
            let items: Vec<Value> = (0..len)
                .map(|i| {
                    json!({
                        "id": i + 1,
                        "name": format!("repo-{version}-{i}"),
                        "full_name": format!("owner/repo-{version}-{i}"),
                        "stargazers_count": 10_000 - i,
                        "description": "ünïcödé and \"quotes\" survive the swap",
                    })
                })
                .collect();
            View::from_items(&items).unwrap()
        })
        .collect()
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

#[tokio::test]
async fn readers_never_see_an_empty_partial_or_malformed_view_while_it_is_rebuilt() {
    let topic = Topic::parse("rebuilt").unwrap();
    let app = Arc::new(
        TestApp::spawn_with(|s| {
            s.topics.tracked = vec![topic.clone()];
            // Every read goes to Redis, where the swaps happen.
            s.views.process_ttl_ms = 1;
        })
        .await,
    );
    let cache = Cache::connect(&test_settings(&app.db, &app.redis).redis).unwrap();
    let versions = versions();
    let by_etag: Arc<HashMap<Vec<u8>, Vec<u8>>> = Arc::new(
        versions
            .iter()
            .map(|v| (v.etag.to_vec(), v.plain.to_vec()))
            .collect(),
    );
    cache
        .put_view(&topic, ViewKind::Popularity, &versions[0])
        .await
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for reader in 0..READERS {
        let (app, done, by_etag) = (app.clone(), done.clone(), by_etag.clone());
        readers.push(tokio::spawn(async move {
            let encodings = [None, Some("gzip"), Some("br")];
            let mut reads = 0usize;
            let mut etags_seen = std::collections::HashSet::new();
            while !done.load(Ordering::Relaxed) {
                let asked = encodings[(reads + reader) % encodings.len()];
                let limited = reads % 5 == 4;
                let path = if limited {
                    "/api/popularity/rebuilt?limit=3"
                } else {
                    "/api/popularity/rebuilt"
                };
                let mut request = app.http().get(app.url(path));
                if let Some(encoding) = asked {
                    request = request.header("accept-encoding", encoding);
                }
                let reply = request.send().await.unwrap();
                assert_eq!(reply.status(), 200, "read {reads}");
                let encoding = reply
                    .headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap().to_owned());
                let etag = reply.headers().get("etag").map(|v| v.as_bytes().to_vec());
                let raw = reply.bytes().await.unwrap();
                let body = decode(encoding.as_deref(), &raw);
                let items: Vec<Value> = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("read {reads}: malformed body ({e})"));
                assert!(!items.is_empty(), "read {reads}: an empty view");
                if limited {
                    assert!(items.len() <= 3, "read {reads}: limit ignored");
                    assert_eq!(items[0]["id"], 1, "read {reads}: not a prefix");
                } else {
                    let etag = etag.expect("a whole view carries its ETag");
                    let expected = by_etag
                        .get(&etag)
                        .unwrap_or_else(|| panic!("read {reads}: an ETag no version has"));
                    assert_eq!(&body, expected, "read {reads}: body and ETag disagree");
                    etags_seen.insert(etag);
                }
                reads += 1;
            }
            (reads, etags_seen.len())
        }));
    }

    for swap in 0..SWAPS {
        let view = &versions[swap % versions.len()];
        cache
            .put_view(&topic, ViewKind::Popularity, view)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    done.store(true, Ordering::Relaxed);

    let mut total = 0;
    for reader in readers {
        let (reads, versions_seen) = reader.await.unwrap();
        total += reads;
        assert!(
            versions_seen >= 2,
            "a reader saw {versions_seen} version(s): the rebuilds did not overlap the reads"
        );
    }
    assert!(total >= SWAPS, "only {total} reads during {SWAPS} swaps");
    eprintln!("{total} reads during {SWAPS} swaps, every one whole");
}
