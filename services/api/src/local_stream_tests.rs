//! `LocalStream` over a real socket pair, and the wakeups it exists to save,
//! counted as the runtime thread's sleeps (voluntary context switches).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const ROUNDS: u64 = 20;
const CHUNK: usize = 32 * 1024;

/// How often the thread at `/proc/{task}` has gone to sleep.
fn sleeps(task: &Path) -> u64 {
    let status = std::fs::read_to_string(task.join("status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the thread at `/proc/{task}` is asleep (in `epoll_wait`:
/// it blocks nowhere else), so that what it was woken for is counted.
fn asleep(task: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // The state follows the command name's closing parenthesis.
        let state = stat[stat.rfind(')').unwrap() + 2..].chars().next();
        if state == Some('S') {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never asleep: {stat}");
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// A runtime thread writes a chunk and waits for the peer's next byte,
/// `ROUNDS` times; each time the peer reads the whole chunk while that
/// thread sleeps, then sends the byte. How many times the thread woke: once
/// a round for the byte, plus whatever the peer's reads woke it for.
fn wakeups_while_the_peer_reads<S>(open: fn(tokio::net::UnixStream) -> S) -> u64
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (sent, written) = std::sync::mpsc::channel::<Option<(PathBuf, UnixStream)>>();
    let writer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
            let mut ours = open(ours);
            let task = Path::new("/proc").join(std::fs::read_link("/proc/thread-self").unwrap());
            sent.send(Some((task, theirs.into_std().unwrap()))).unwrap();
            let mut next = [0];
            for _ in 0..ROUNDS {
                ours.write_all(&[7; CHUNK]).await.unwrap();
                sent.send(None).unwrap();
                ours.read_exact(&mut next).await.unwrap();
            }
            // Alive until the peer has counted the last round.
            assert_eq!(ours.read(&mut next).await.unwrap(), 0);
        });
    });
    let (task, mut theirs) = written.recv().unwrap().unwrap();
    theirs.set_nonblocking(false).unwrap();
    let mut chunk = vec![0; CHUNK];
    let mut woken = 0;
    for _ in 0..ROUNDS {
        written.recv().unwrap();
        // Waiting for the byte. A wakeup happens within the peer's call
        // that causes it, so once that returns, "asleep" means settled.
        asleep(&task);
        let before = sleeps(&task);
        theirs.read_exact(&mut chunk).unwrap();
        assert!(chunk.iter().all(|&b| b == 7));
        asleep(&task);
        theirs.write_all(b"n").unwrap();
        asleep(&task);
        woken += sleeps(&task) - before;
    }
    drop(theirs);
    writer.join().unwrap();
    woken
}

#[test]
fn the_peer_reading_a_reply_wakes_a_socket_registered_for_writes_but_not_this_one() {
    let tokio = wakeups_while_the_peer_reads(|s| s);
    let local = wakeups_while_the_peer_reads(|s| LocalStream::new(s).unwrap());
    // The control: registered for writes as tokio registers every socket,
    // the thread wakes for the peer's read as well as for its byte.
    eprintln!("woken: tokio's socket {tokio}, LocalStream {local}");
    assert!(
        tokio >= ROUNDS * 3 / 2,
        "tokio's socket woke {tokio} times in {ROUNDS} rounds"
    );
    assert!(
        local <= ROUNDS + ROUNDS / 4,
        "LocalStream woke {local} times in {ROUNDS} rounds"
    );
}

#[tokio::test]
async fn a_write_larger_than_the_buffer_waits_for_room_and_then_registers_for_reads_only() {
    let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
    let mut ours = LocalStream::new(ours).unwrap();
    let sent: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let reader = tokio::spawn(async move {
        let mut theirs = theirs;
        let mut got = Vec::new();
        let mut buf = vec![0; 16 * 1024];
        while got.len() < 4 * 1024 * 1024 {
            let n = theirs.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        (got, theirs)
    });
    ours.write_all(&sent).await.unwrap();
    let (got, mut theirs) = reader.await.unwrap();
    assert!(got == sent, "the bytes arrived changed or out of order");
    assert!(
        ours.writes.is_none(),
        "still registered for writes after the write went out"
    );

    // Reads, and a shutdown the peer sees as the end.
    theirs.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut request = [0; 18];
    ours.read_exact(&mut request).await.unwrap();
    assert_eq!(&request, b"GET / HTTP/1.1\r\n\r\n");
    ours.shutdown().await.unwrap();
    let mut rest = Vec::new();
    assert_eq!(theirs.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn a_closed_peer_is_an_error_for_a_waiting_write() {
    let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
    let mut ours = LocalStream::new(ours).unwrap();
    let closer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(theirs);
    });
    let big = vec![1; 8 * 1024 * 1024];
    let result = tokio::time::timeout(Duration::from_secs(10), ours.write_all(&big)).await;
    closer.await.unwrap();
    let err = result.expect("a write to a closed peer hung").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
}
