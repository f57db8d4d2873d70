//! The CSV export of 100,000 repositories streams: the process's resident
//! memory stays flat while tens of megabytes go by, the rows all arrive,
//! and a description that is a spreadsheet formula arrives neutralised.
//! The figures are printed (stderr) for the README.

use std::time::Instant;

use hubpulse_testkit::TestApp;

const ROWS: i64 = 100_000;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_100k_row_csv_streams_with_flat_memory() {
    let app = TestApp::spawn().await;
    let db = app.db.client().await;
    db.batch_execute(&format!(
        "INSERT INTO owners (id, login, kind) VALUES (424242, 'bulk-owner', 'User'); \
         INSERT INTO repositories (id, owner_id, name, html_url, description, language, \
             stargazers_count, created_at, updated_at, pushed_at) \
         SELECT g, 424242, 'repo-' || g, 'https://github.com/bulk-owner/repo-' || g, \
             CASE WHEN g = 1 THEN '=HYPERLINK(\"https://example.invalid\")' \
                  ELSE 'A description of some length, as people write them, number ' || g END, \
             'Rust', g % 5000, now() - interval '1 year', now(), now() \
         FROM generate_series(1, {ROWS}) g;"
    ))
    .await
    .unwrap();

    db.batch_execute("ANALYZE").await.unwrap();
    let before = resident_kib();
    let started = Instant::now();
    // No whole-request timeout: the body is the point.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut response = client
        .get(app.url("/v1/users/bulk-owner/repos.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut lines, mut peak) = (0usize, 0usize, before);
    let mut head = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        if head.len() < 4096 {
            head.extend_from_slice(&chunk[..chunk.len().min(4096)]);
        }
        peak = peak.max(resident_kib());
    }
    let elapsed = started.elapsed();
    let growth_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    eprintln!(
        "CSV of {ROWS} rows: {:.1} MiB in {:.2} s; resident memory {:.1} MiB before, peak growth {growth_mib:.1} MiB",
        bytes as f64 / 1_048_576.0,
        elapsed.as_secs_f64(),
        before as f64 / 1024.0,
    );
    assert_eq!(lines, ROWS as usize + 1, "a header and every row");
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.contains("\"'=HYPERLINK(\"\"https://example.invalid\"\")\""),
        "{head:.600}"
    );
    assert!(
        bytes > 15 * 1_048_576,
        "{bytes} bytes is not the export being measured"
    );
    // Flat: the whole body would be over 15 MiB; a page of 1,000 rows is
    // about 200 kB. Allow for the allocator's and the pool's slack.
    assert!(
        growth_mib < 12.0,
        "resident memory grew {growth_mib:.1} MiB while streaming"
    );
    app.shutdown().await;
}
