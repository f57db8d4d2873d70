//! Cached full-view reads go out by sendfile (src/zerocopy.rs) over TCP and
//! over the Unix socket, byte for byte the view's bodies; `?limit=` answers
//! and everything else by writev; `server.sendfile = false` never uses it.

use hubpulse_cache::View;
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::TestApp;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A tracked topic whose popularity view (500 items that compress badly,
/// so every encoding is tens of kB or more) is in Redis: what the replica
/// loads and serves.
async fn seed(app: &TestApp, name: &str) -> View {
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO topics (name, tracked) VALUES ($1, true)",
            &[&name],
        )
        .await
        .unwrap();
    let items: Vec<Value> = (0..500u64)
        .map(|i| {
            let noise: String = (0..12u64)
                .map(|k| format!("{:x}", (i * 31 + k).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
                .collect();
            json!({"id": i, "full_name": format!("octo/repo-{i}"), "description": noise})
        })
        .collect();
    let view = View::from_items(&items).unwrap();
    let topic = Topic::parse(name).unwrap();
    app.redis
        .cache()
        .await
        .put_view(&topic, ViewKind::Popularity, &view)
        .await
        .unwrap();
    view
}

async fn sendfile_bytes(app: &TestApp) -> u64 {
    let metrics = app.api.metrics().await.unwrap();
    metrics.sum("hubpulse_http_sendfile_bytes_total", &[]) as u64
}

/// One HTTP/1.1 exchange on a fresh connection: status line, lowercased
/// head, body bytes as sent.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    uri: &str,
    accept: &str,
) -> (String, String, Vec<u8>) {
    let request = format!(
        "{method} {uri} HTTP/1.1\r\nhost: replica\r\naccept-encoding: {accept}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(reply[..split].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let status = head.lines().next().unwrap().to_owned();
    (status, head, reply[split + 4..].to_vec())
}

enum Via<'a> {
    Tcp(&'a TestApp),
    Unix(&'a std::path::Path),
}

async fn get(via: &Via<'_>, method: &str, uri: &str, accept: &str) -> (String, String, Vec<u8>) {
    match via {
        Via::Tcp(app) => {
            let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
            exchange(stream, method, uri, accept).await
        }
        Via::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path).await.unwrap();
            exchange(stream, method, uri, accept).await
        }
    }
}

/// Every encoding and HEAD of the full view, then a `?limit=` prefix;
/// `by_sendfile`: whether the full bodies must have gone by sendfile.
async fn check_reads(app: &TestApp, via: Via<'_>, view: &View, by_sendfile: bool) {
    let uri = "/api/popularity/zerocopied";
    for (accept, encoding, body) in [
        ("identity", None, &view.plain),
        ("gzip", Some("gzip"), &view.gzip),
        ("gzip, br", Some("br"), &view.brotli),
    ] {
        let before = sendfile_bytes(app).await;
        let (status, head, got) = get(&via, "GET", uri, accept).await;
        assert_eq!(status, "http/1.1 200 ok", "{head}");
        match encoding {
            Some(name) => assert!(
                head.contains(&format!("content-encoding: {name}")),
                "{head}"
            ),
            None => assert!(!head.contains("content-encoding"), "{head}"),
        }
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert_eq!(got.len(), body.len(), "{accept}");
        assert!(
            got == body[..],
            "{accept}: the body differs from the view's"
        );
        let by_sendfile_now = sendfile_bytes(app).await - before;
        let expected = if by_sendfile { body.len() as u64 } else { 0 };
        assert_eq!(by_sendfile_now, expected, "{accept}: bytes by sendfile");

        let (status, head, got) = get(&via, "HEAD", uri, accept).await;
        assert_eq!(status, "http/1.1 200 ok", "{head}");
        assert!(got.is_empty(), "HEAD with a body of {} bytes", got.len());
    }

    // A prefix is cut and compressed for the request: by writev, and right.
    let before = sendfile_bytes(app).await;
    let (status, head, got) = get(&via, "GET", &format!("{uri}?limit=3"), "identity").await;
    assert_eq!(status, "http/1.1 200 ok", "{head}");
    let prefix: Vec<Value> = serde_json::from_slice(&got).unwrap();
    let full: Vec<Value> = serde_json::from_slice(&view.plain).unwrap();
    assert_eq!(prefix, full[..3]);
    assert_eq!(
        sendfile_bytes(app).await,
        before,
        "a prefix went by sendfile"
    );
}

#[tokio::test]
async fn full_view_reads_go_by_sendfile_over_tcp_and_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let app = TestApp::spawn_with(|s| {
        assert!(s.server.sendfile, "on by default");
        s.server.unix_socket = Some(socket.clone());
    })
    .await;
    let view = seed(&app, "zerocopied").await;
    assert!(view.brotli.len() > 20_000, "{}", view.brotli.len());
    assert_eq!(sendfile_bytes(&app).await, 0);

    check_reads(&app, Via::Tcp(&app), &view, true).await;
    check_reads(&app, Via::Unix(&socket), &view, true).await;

    // Through the typed client too (reqwest, a kept-alive connection).
    let before = sendfile_bytes(&app).await;
    let query = hubpulse_client::ViewQuery::default().accept_encoding("br");
    for _ in 0..3 {
        let reply = app
            .api
            .view(ViewKind::Popularity, "zerocopied", &query)
            .await
            .unwrap();
        assert_eq!(reply.body, view.brotli);
    }
    assert_eq!(
        sendfile_bytes(&app).await - before,
        3 * view.brotli.len() as u64
    );
    app.shutdown().await;
}

#[tokio::test]
async fn with_sendfile_off_the_same_bytes_go_by_writev() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let app = TestApp::spawn_with(|s| {
        s.server.sendfile = false;
        s.server.unix_socket = Some(socket.clone());
    })
    .await;
    let view = seed(&app, "zerocopied").await;
    check_reads(&app, Via::Tcp(&app), &view, false).await;
    check_reads(&app, Via::Unix(&socket), &view, false).await;
    assert_eq!(sendfile_bytes(&app).await, 0);
    app.shutdown().await;
}
