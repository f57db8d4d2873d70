//! Cached views against a real Redis, and again against a real Redis
//! Cluster: a swap is atomic (readers see the old view or the new one,
//! whole), a read-through never overwrites a newer view, and one topic's
//! views live on one slot, so the commands that touch several of them
//! (`DEL` of all kinds) are legal on a Cluster.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::connected;
use hubpulse_cache::View;
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::TestRedisCluster;
use serde::Serialize;

on_single_and_cluster!(
    readers_see_the_old_view_or_the_new_one_whole_while_it_is_swapped,
    a_read_through_never_overwrites_a_published_view,
    deleting_a_topic_s_views_drops_every_kind_and_no_other_topic_s,
);

#[derive(Serialize)]
struct Item {
    id: u32,
    name: String,
}

/// Versions of one view that differ in length and content.
fn versions() -> Vec<View> {
    (0..4u32)
        .map(|v| {
            let items: Vec<Item> = (0..(50 + v * 40))
                .map(|id| Item {
                    id,
                    name: format!("version-{v}-repo-{id}"),
                })
                .collect();
            View::from_items(&items).unwrap()
        })
        .collect()
}

const READERS: usize = 4;
const SWAPS: usize = 150;

async fn readers_see_the_old_view_or_the_new_one_whole_while_it_is_swapped(
    url: &str,
    prefix: &str,
) {
    let topic = Topic::parse("swapped").unwrap();
    let writer = connected(url, prefix).await;
    let versions = versions();
    let by_etag: Arc<HashMap<Vec<u8>, View>> = Arc::new(
        versions
            .iter()
            .map(|v| (v.etag.to_vec(), v.clone()))
            .collect(),
    );
    writer
        .put_view(&topic, ViewKind::Popularity, &versions[0])
        .await
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        // Each reader on a client of its own, as another replica would be.
        let reader = connected(url, prefix).await;
        let (topic, done, by_etag) = (topic.clone(), done.clone(), by_etag.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0usize;
            let mut seen = std::collections::HashSet::new();
            while !done.load(Ordering::Relaxed) {
                let view = reader
                    .get_view(&topic, ViewKind::Popularity)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("read {reads}: the view was missing"));
                let expected = by_etag
                    .get(&view.etag.to_vec())
                    .unwrap_or_else(|| panic!("read {reads}: an ETag no version has"));
                assert_eq!(&view, expected, "read {reads}: parts of two versions");
                seen.insert(view.etag.clone());
                reads += 1;
            }
            (reads, seen.len())
        }));
    }
    for swap in 0..SWAPS {
        writer
            .put_view(
                &topic,
                ViewKind::Popularity,
                &versions[swap % versions.len()],
            )
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut total = 0;
    for reader in readers {
        let (reads, seen) = reader.await.unwrap();
        assert!(
            seen >= 2,
            "a reader saw {seen} version(s): no swap overlapped its reads"
        );
        total += reads;
    }
    assert!(total >= SWAPS, "only {total} reads during {SWAPS} swaps");
}

async fn a_read_through_never_overwrites_a_published_view(url: &str, prefix: &str) {
    let cache = connected(url, prefix).await;
    let topic = Topic::parse("read-through").unwrap();
    let [published, stale, ..] = <[View; 4]>::try_from(versions()).unwrap();
    assert!(
        cache
            .put_view_if_absent(&topic, ViewKind::ByName, &stale)
            .await
            .unwrap(),
        "a gap is filled"
    );
    cache
        .put_view(&topic, ViewKind::ByName, &published)
        .await
        .unwrap();
    assert!(
        !cache
            .put_view_if_absent(&topic, ViewKind::ByName, &stale)
            .await
            .unwrap(),
        "a published view stays"
    );
    let got = cache.get_view(&topic, ViewKind::ByName).await.unwrap();
    assert_eq!(got.map(|v| v.etag), Some(published.etag));
}

async fn deleting_a_topic_s_views_drops_every_kind_and_no_other_topic_s(url: &str, prefix: &str) {
    let cache = connected(url, prefix).await;
    let view = versions().remove(0);
    let topics: Vec<Topic> = ["rust", "go", "zig", "nim", "odin"]
        .iter()
        .map(|t| Topic::parse(t).unwrap())
        .collect();
    for topic in &topics {
        for kind in ViewKind::ALL {
            cache.put_view(topic, kind, &view).await.unwrap();
        }
    }
    cache.delete_views(&topics[0]).await.unwrap();
    for kind in ViewKind::ALL {
        assert_eq!(cache.get_view(&topics[0], kind).await.unwrap(), None);
        for topic in &topics[1..] {
            assert!(cache.get_view(topic, kind).await.unwrap().is_some());
        }
    }
}

#[tokio::test]
async fn on_a_cluster_one_topic_s_views_share_a_primary_and_topics_spread() {
    let cluster = TestRedisCluster::new().await;
    let cache = cluster.cache().await;
    let view = versions().remove(0);
    let mut primaries = std::collections::HashSet::new();
    for i in 0..12 {
        let topic = Topic::parse(&format!("topic-{i}")).unwrap();
        cache
            .put_view(&topic, ViewKind::ByName, &view)
            .await
            .unwrap();
        let key = |kind: ViewKind| cache.view_key(&topic, kind);
        let owner = cluster.owner_of(&key(ViewKind::ByName));
        for kind in ViewKind::ALL {
            assert_eq!(cluster.owner_of(&key(kind)), owner, "{topic} {kind:?}");
        }
        // The key really is there, on the primary that owns its slot.
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &owner.to_string(), "EXISTS", &key(ViewKind::ByName)])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{topic}");
        primaries.insert(owner);
    }
    assert!(primaries.len() >= 2, "twelve topics all on one primary");
}
