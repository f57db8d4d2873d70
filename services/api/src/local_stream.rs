//! A Unix-socket connection that asks epoll for writability only while a
//! write waits for room.
//!
//! tokio registers every socket for both readable and writable events. On a
//! Unix stream socket the kernel signals "writable" each time the peer reads
//! part of what was sent (`unix_write_space`), so a replica answering nginx
//! was woken from `epoll_wait` by nginx's reads of each response (its
//! `recv` of the head and its `readv` of the body), for nothing: 70% of a
//! replica's wakeups under load, 1.5 context switches per request against
//! nginx's 0.46 as a backend (`perf record -e sched:sched_wakeup`). nginx
//! registers an accepted connection for reads only and asks for writes when
//! one would block; [`LocalStream`] does the same. Its socket is registered
//! for reads; a write that finds the buffer full registers a duplicate of
//! the descriptor for writes (a second epoll entry, so the read side's
//! registration and whoever waits on it are never touched) and drops it once
//! that write has gone out whole.

use std::cell::RefCell;
use std::io::{self, IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::zerocopy::Socket;

/// The most one read takes; a request's head is far less.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// What reads land in before they are copied to the caller's buffer.
    /// hyper hands over its buffer's spare capacity uninitialised, and
    /// without unsafe code (forbidden here) it would have to be zeroed
    /// first: 8 kB or more per read, against a copy of the request's few
    /// hundred bytes.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

pub struct LocalStream {
    reads: AsyncFd<UnixStream>,
    /// Registered for writable events while a write waits for room.
    writes: Option<AsyncFd<OwnedFd>>,
}

impl LocalStream {
    pub fn new(stream: tokio::net::UnixStream) -> io::Result<Self> {
        let stream = stream.into_std()?;
        Ok(Self {
            reads: register(stream, Interest::READABLE)?,
            writes: None,
        })
    }
}

/// Registers `io`, which owns its descriptor, with tokio's reactor.
///
/// tokio 1.54 deprecated this safe constructor for an unsafe one, because
/// some `T` may answer a different or closed descriptor later. What is
/// passed here (a `UnixStream`, an `OwnedFd`) owns its descriptor for as
/// long as it lives, which is what the unsafe one asks; the workspace
/// forbids unsafe code.
#[expect(
    deprecated,
    reason = "the safe constructor, sound for owned descriptors"
)]
fn register<T: AsRawFd>(io: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    AsyncFd::with_interest(io, interest)
}

impl AsFd for LocalStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.reads.get_ref().as_fd()
    }
}

impl Socket for LocalStream {
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        mut send: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let fd = self.reads.get_ref().as_fd();
            let Some(writes) = &self.writes else {
                match send(fd) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        let duplicate = fd.try_clone_to_owned()?;
                        self.writes = Some(register(duplicate, Interest::WRITABLE)?);
                        continue;
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    other => return Poll::Ready(other),
                }
            };
            let sent = {
                let mut ready = ready!(writes.poll_write_ready(cx))?;
                match ready.try_io(|_| send(fd)) {
                    Ok(sent) => sent,
                    Err(_would_block) => continue,
                }
            };
            // Whole: the buffer had room for all of it, so the next write
            // most likely finds room too; back to reads only.
            if matches!(sent, Ok(n) if n == len) {
                self.writes = None;
            }
            return Poll::Ready(sent);
        }
    }
}

impl AsyncRead for LocalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.reads.poll_read_ready(cx))?;
            let want = buf.remaining().min(READ_CHUNK);
            let read = SCRATCH.with_borrow_mut(|scratch| {
                ready.try_io(|stream| {
                    let n = stream.get_ref().read(&mut scratch[..want])?;
                    buf.put_slice(&scratch[..n]);
                    Ok(n)
                })
            });
            match read {
                Ok(Ok(n)) => {
                    // Less than asked for: the socket is drained, as tokio
                    // concludes too, so the next read waits for epoll
                    // rather than asking the kernel to hear "try again".
                    if n > 0 && n < want {
                        ready.clear_ready();
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) if err.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for LocalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.get_mut().poll_send(cx, len, |fd| {
            rustix::io::writev(fd, bufs).map_err(io::Error::from)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.reads.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
#[path = "local_stream_tests.rs"]
mod tests;
