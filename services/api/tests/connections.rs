//! How long each listener keeps a connection that sends nothing (server.rs,
//! `Connections`): over TCP a client slow with its headers, or idle between
//! requests, is cut off after the header-read timeout; on the Unix socket,
//! where only the proxy on this host connects, idle connections are the
//! proxy's to close.

use std::time::Duration;

use hubpulse_testkit::TestApp;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

const HEADER_READ_TIMEOUT_MS: u64 = 300;

/// Long enough that a connection the server meant to close is closed.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

/// Sends a keep-alive `GET /health` and reads exactly its answer; returns
/// the status line.
async fn health<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> String {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: replica\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a whole head: {reply:?}");
        reply.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(reply[..head_end].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    while reply.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the whole body");
        reply.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(reply.len(), head_end + length, "more than one answer");
    head.lines().next().unwrap().to_owned()
}

/// Whether the server closes the connection (end of stream, or a reset)
/// before [`CLOSED_WITHIN`], reading nothing else from it.
async fn closed_by_server<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(CLOSED_WITHIN, stream.read_to_end(&mut rest))
        .await
        .is_ok()
}

#[tokio::test]
async fn tcp_cuts_off_slow_or_idle_clients_and_the_unix_socket_leaves_idle_ones_open() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let app = TestApp::spawn_with(|s| {
        s.server.header_read_timeout_ms = HEADER_READ_TIMEOUT_MS;
        s.server.unix_socket = Some(socket.clone());
    })
    .await;
    let idle = Duration::from_millis(HEADER_READ_TIMEOUT_MS * 4);

    // TCP, a client that never finishes its headers.
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: rep")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "a TCP client that never finished its headers was kept"
    );

    // TCP, a kept-alive connection answered once, then idle.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(health(&mut kept).await, "http/1.1 200 ok");
    assert!(
        closed_by_server(&mut kept).await,
        "an idle TCP keep-alive connection was kept past the header-read timeout"
    );

    // The Unix socket: the same connection answers again after idling for
    // several timeouts, so the timer is not running there.
    let mut proxy = UnixStream::connect(&socket).await.unwrap();
    assert_eq!(health(&mut proxy).await, "http/1.1 200 ok");
    tokio::time::sleep(idle).await;
    assert_eq!(health(&mut proxy).await, "http/1.1 200 ok");
    tokio::time::sleep(idle).await;
    assert_eq!(health(&mut proxy).await, "http/1.1 200 ok");
    drop(proxy);

    app.shutdown().await;
}
