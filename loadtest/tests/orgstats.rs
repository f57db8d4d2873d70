//! The organisation statistics benchmark at a small scale: the full pass
//! writes every contributor, and the re-sync with one new contributor
//! writes one repository's one first week and one month, as `make bench`
//! requires of the 2,000-repository run.

use hubpulse_loadtest::orgstats::{self, Shape};
use hubpulse_testkit::TestDb;

#[tokio::test]
async fn a_resync_with_one_new_contributor_writes_one_week_and_one_month() {
    let db = TestDb::new().await;
    let shape = Shape {
        repositories: 20,
        contributors: 50,
        years: 2,
    };
    let b = orgstats::run(db.url(), shape).await.unwrap();
    assert_eq!(b.full.repositories_written, 20);
    assert_eq!(b.full.first_weeks_written, 1000);
    assert!(b.full.months_written > 20, "{b:?}");
    assert_eq!(
        (
            b.resync.repositories_written,
            b.resync.first_weeks_written,
            b.resync.months_written
        ),
        (1, 1, 1),
        "{b:?}"
    );
    assert_eq!(b.weeks_read, 20 * 50 * 105);
    let targets = orgstats::targets(&b);
    assert_eq!(targets.len(), 2);
    // The full pass's time target holds at this size; the re-sync's share
    // is not judged here (a few milliseconds either way).
    assert!(targets[0].passed, "{targets:?}");
    // Run twice: the bench drops its earlier rows first.
    let again = orgstats::run(db.url(), shape).await.unwrap();
    assert_eq!(again.full.first_weeks_written, 1000);
}
