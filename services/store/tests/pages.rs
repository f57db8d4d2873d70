//! GitHub page validators: stored and read back per (credential, media
//! type, URL), forgotten without an ETag, and written in the caller's
//! transaction so they roll back with the page's rows.

use hubpulse_store::pages::{self, PageKey, PageWrite, StoredPage};
use hubpulse_testkit::TestDb;

const URL: &str = "https://api.github.com/users/octocat/repos?per_page=100";

fn key<'a>(credential: &'a str, media_type: &'a str) -> PageKey<'a> {
    PageKey {
        credential,
        media_type,
        url: URL,
    }
}

#[tokio::test]
async fn pages_are_kept_per_credential_and_media_type_and_forgotten_without_an_etag() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let conn = store.conn().await.unwrap();
    let json = key("abc123", "application/vnd.github+json");
    let next = "https://api.github.com/user/583231/repos?per_page=100&page=2";
    pages::remember(
        &conn,
        &PageWrite {
            key: json,
            etag: Some("W/\"one\""),
            ids: &[3, 1, 2],
            total_count: None,
            next_url: Some(next),
        },
    )
    .await
    .unwrap();
    let stored = pages::recall(&conn, &json).await.unwrap();
    assert_eq!(
        stored,
        Some(StoredPage {
            etag: "W/\"one\"".into(),
            ids: vec![3, 1, 2],
            total_count: None,
            next_url: Some(next.into()),
        }),
        "ids in the page's order"
    );
    // Another token, or another media type, has its own validator.
    for other in [
        key("def456", "application/vnd.github+json"),
        key("abc123", "application/vnd.github.star+json"),
    ] {
        assert_eq!(pages::recall(&conn, &other).await.unwrap(), None);
    }

    // Stored again: replaced, not added.
    let write = PageWrite {
        key: json,
        etag: Some("W/\"two\""),
        ids: &[],
        total_count: Some(7),
        next_url: None,
    };
    pages::remember(&conn, &write).await.unwrap();
    let stored = pages::recall(&conn, &json).await.unwrap().unwrap();
    assert_eq!(
        (stored.etag.as_str(), stored.total_count),
        ("W/\"two\"", Some(7))
    );

    pages::remember(
        &conn,
        &PageWrite {
            etag: None,
            ..write
        },
    )
    .await
    .unwrap();
    assert_eq!(pages::recall(&conn, &json).await.unwrap(), None);
}

#[tokio::test]
async fn a_validator_rolls_back_with_the_transaction_that_wrote_it() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let mut conn = store.conn().await.unwrap();
    let json = key("abc123", "application/vnd.github+json");
    let tx = conn.transaction().await.unwrap();
    pages::remember(
        &tx,
        &PageWrite {
            key: json,
            etag: Some("W/\"one\""),
            ids: &[1],
            total_count: None,
            next_url: None,
        },
    )
    .await
    .unwrap();
    assert!(pages::recall(&tx, &json).await.unwrap().is_some());
    drop(tx);
    assert_eq!(pages::recall(&conn, &json).await.unwrap(), None);
}
