//! `Zerocopy` over a real socket pair: bodies larger than the socket's
//! buffer, read slowly, so that writes are partial and resume mid-body.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Buf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;

/// Bytes no two offsets of which are likely alike, so a byte out of place shows.
fn body(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn registry() -> (Arc<Registry>, IntCounter) {
    let sent = IntCounter::new("sent", "bytes by sendfile").unwrap();
    (Registry::new(sent.clone()), sent)
}

/// Writes `parts` as hyper does: all that is left as one vectored write,
/// then advanced by what went out (so the next write may start inside a
/// body). Returns how many writes it took.
async fn write_like_hyper<S: Socket>(socket: &mut Zerocopy<S>, parts: &[Bytes]) -> usize {
    let mut queue: VecDeque<Bytes> = parts.iter().cloned().collect();
    let mut writes = 0;
    while !queue.is_empty() {
        let slices: Vec<IoSlice<'_>> = queue.iter().map(|b| IoSlice::new(b)).collect();
        let mut n = socket.write_vectored(&slices).await.unwrap();
        assert!(n > 0);
        writes += 1;
        while n > 0 {
            let front = queue.front_mut().unwrap();
            let step = n.min(front.len());
            front.advance(step);
            n -= step;
            if front.is_empty() {
                queue.pop_front();
            }
        }
    }
    writes
}

/// Reads `len` bytes in small pieces with pauses, as a busy proxy might.
async fn read_slowly(mut socket: UnixStream, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut buf = vec![0; 64 * 1024];
    let mut reads = 0u32;
    while out.len() < len {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed after {} of {len} bytes", out.len());
        out.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads.is_multiple_of(8) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    out
}

fn concat(parts: &[Bytes]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

#[tokio::test]
async fn registered_bodies_go_by_sendfile_in_order_through_partial_writes() {
    sendfile_through_partial_writes(|s| s).await;
}

#[tokio::test]
async fn the_same_through_a_local_stream() {
    sendfile_through_partial_writes(|s| crate::local_stream::LocalStream::new(s).unwrap()).await;
}

async fn sendfile_through_partial_writes<S: Socket>(open: fn(UnixStream) -> S) {
    let (registry, sent) = registry();
    // Several MB against a socket buffer of a few hundred kB: dozens of
    // partial writes, most of them resuming inside a body.
    let (first, second) = (body(5 << 20, 1), body(3 << 20, 2));
    let registration = registry.register(&[&first, &second]).unwrap();
    assert_eq!(registration.bytes(), first.len() + second.len());
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut ours = Zerocopy::new(open(ours), Some(registry.clone()));

    // Heads between the bodies, and a registered body's middle on its own.
    let parts = [
        Bytes::from_static(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n"),
        first.clone(),
        Bytes::from(vec![b'-'; 10_000]),
        second.slice(12_345..),
        Bytes::from_static(b"tail"),
    ];
    let expected = concat(&parts);
    let reader = tokio::spawn(read_slowly(theirs, expected.len()));
    let writes = write_like_hyper(&mut ours, &parts).await;
    let received = reader.await.unwrap();
    assert!(writes > 10, "only {writes} writes: nothing was partial");
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "bytes differ or are out of order");
    // Exactly the registered bytes went by sendfile; the rest by writev.
    assert_eq!(
        sent.get(),
        (first.len() + second.len() - 12_345) as u64,
        "sendfile bytes"
    );
}

#[tokio::test]
async fn unregistered_and_unregistered_again_bodies_go_by_writev() {
    let (registry, sent) = registry();
    let (kept, other) = (body(1 << 20, 3), body(1 << 20, 4));
    let registration = registry.register(&[&kept]).unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut ours = Zerocopy::new(ours, Some(registry.clone()));
    let reader = tokio::spawn(read_slowly(theirs, 3 << 20));

    // Same bytes, other memory: not matched.
    write_like_hyper(
        &mut ours,
        std::slice::from_ref(&Bytes::copy_from_slice(&kept)),
    )
    .await;
    write_like_hyper(&mut ours, std::slice::from_ref(&other)).await;
    assert_eq!(sent.get(), 0);
    // A slice running past the registered body's end: not matched either.
    let mut joined = kept.to_vec();
    joined.extend_from_slice(b"x");
    assert!(registry.first_match(&[IoSlice::new(&joined)]).is_none());
    assert!(
        registry
            .first_match(&[IoSlice::new(&kept[10..20])])
            .is_some()
    );

    drop(registration);
    assert!(registry.first_match(&[IoSlice::new(&kept)]).is_none());
    write_like_hyper(&mut ours, std::slice::from_ref(&kept)).await;
    assert_eq!(sent.get(), 0, "a dropped registration is not matched");

    let received = reader.await.unwrap();
    assert!(received[..1 << 20] == kept[..]);
    assert!(received[1 << 20..2 << 20] == other[..]);
    assert!(received[2 << 20..] == kept[..]);
    assert!(registry.entries.read().unwrap().is_empty());
}

#[tokio::test]
async fn the_copy_is_sealed() {
    let (registry, _) = registry();
    let one = body(4096, 5);
    let registration = registry.register(&[&one, &Bytes::new()]).unwrap();
    assert_eq!(registration.bytes(), 4096);
    let (_, file, offset) = registry.first_match(&[IoSlice::new(&one)]).unwrap();
    assert_eq!(offset, 0);
    let seals = rustix::fs::fcntl_get_seals(&*file).unwrap();
    assert!(seals.contains(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW));
    let mut writable = std::fs::File::from(file.try_clone().unwrap());
    assert!(writable.write_all(b"changed").is_err());
}

#[tokio::test]
async fn a_closed_peer_is_an_error_not_a_hang() {
    let (registry, _) = registry();
    let one = body(1 << 20, 6);
    let _registration = registry.register(&[&one]).unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(theirs);
    let mut ours = Zerocopy::new(ours, Some(registry));
    let err = ours
        .write_vectored(&[IoSlice::new(&one)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
}

#[tokio::test]
async fn a_sendfile_the_kernel_refuses_falls_back_to_writev() {
    let (registry, sent) = registry();
    let one = body(256 * 1024, 7);
    let _registration = registry.register(&[&one]).unwrap();
    // A directory cannot be spliced from: sendfile says EINVAL, as a kernel
    // or socket without support for it would.
    let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
    let refusing = Arc::new(OwnedFd::from(dir));
    for entry in registry.entries.write().unwrap().values_mut() {
        entry.file = refusing.clone();
    }
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut ours = Zerocopy::new(ours, Some(registry.clone()));
    let parts = [Bytes::from_static(b"head"), one.clone()];
    let reader = tokio::spawn(read_slowly(theirs, 4 + one.len()));
    write_like_hyper(&mut ours, &parts).await;
    let received = reader.await.unwrap();
    assert!(received == concat(&parts));
    assert_eq!(sent.get(), 0);
    assert!(registry.refused.load(Ordering::Relaxed));
    // Refused once, never tried again: later writes go straight to writev.
    assert!(registry.first_match(&[IoSlice::new(&one)]).is_none());
}
