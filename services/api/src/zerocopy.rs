//! Cached view bodies sent with sendfile(2) instead of writev(2).
//!
//! hyper writes a response as one writev of its head and the body's `Bytes`,
//! which copies the body into the socket on every request: for the cached
//! full-view read that copy was the largest item of a replica's CPU. The
//! bodies of the views this process caches are also kept in a sealed memfd,
//! and [`Zerocopy`], around each accepted socket, sees hyper's slices: one
//! that lies inside a registered body goes out with sendfile from the memfd,
//! which since Linux 6.5 hands the socket page references, not a copy (nginx
//! does the same with its files). A slice is matched by its address: the
//! registry holds a clone of each body's `Bytes`, so while registered that
//! memory can hold nothing else. Anything not matched is written as before;
//! a match only ever changes how fast the same bytes go out.

use std::collections::BTreeMap;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use prometheus::IntCounter;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A registered body: where it ends in memory, and where its copy is.
struct Entry {
    end: usize,
    /// Never read: holding it keeps the body's memory from being freed and
    /// reused for other bytes while the address range is registered.
    _pinned: Bytes,
    file: Arc<OwnedFd>,
    offset: u64,
}

/// The registered bodies, by start address (and a serial, so two bodies that
/// share a start never replace each other).
pub struct Registry {
    entries: RwLock<BTreeMap<(usize, u64), Entry>>,
    serial: AtomicU64,
    sent: IntCounter,
    /// Set at the first sendfile the kernel refuses (logged then): the
    /// refusal is the kernel's or the socket type's, so from then on every
    /// write goes straight to writev instead of failing a sendfile first.
    refused: AtomicBool,
}

/// Unregisters its bodies when dropped.
pub struct Registration {
    registry: Arc<Registry>,
    keys: Vec<(usize, u64)>,
    bytes: usize,
}

impl Registration {
    /// What the memfd copy of the bodies takes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut entries = self
            .registry
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for key in &self.keys {
            entries.remove(key);
        }
    }
}

impl Registry {
    /// `sent` counts the bytes that went out by sendfile.
    pub fn new(sent: IntCounter) -> Arc<Self> {
        Arc::new(Self {
            entries: RwLock::default(),
            serial: AtomicU64::new(0),
            sent,
            refused: AtomicBool::new(false),
        })
    }

    /// Copies `bodies` into one sealed memfd and registers each of them
    /// (empty ones are skipped) until the returned handle drops.
    pub fn register(self: &Arc<Self>, bodies: &[&Bytes]) -> io::Result<Registration> {
        let fd = rustix::fs::memfd_create(
            "hubpulse-view",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut file = std::fs::File::from(fd);
        for body in bodies {
            file.write_all(body)?;
        }
        let fd = OwnedFd::from(file);
        // Sealed: nothing, not even this process, can change the copy after
        // the fact, so what sendfile reads is what the `Bytes` hold.
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )?;
        let file = Arc::new(fd);
        let mut registration = Registration {
            registry: self.clone(),
            keys: Vec::with_capacity(bodies.len()),
            bytes: 0,
        };
        let mut offset = 0u64;
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for body in bodies.iter().filter(|b| !b.is_empty()) {
            let start = body.as_ptr() as usize;
            let key = (start, self.serial.fetch_add(1, Ordering::Relaxed));
            entries.insert(
                key,
                Entry {
                    end: start + body.len(),
                    _pinned: Bytes::clone(body),
                    file: file.clone(),
                    offset,
                },
            );
            registration.keys.push(key);
            registration.bytes += body.len();
            offset += body.len() as u64;
        }
        Ok(registration)
    }

    /// The first of `bufs` that lies wholly inside a registered body: its
    /// index, the memfd and where the slice's bytes are in it.
    fn first_match(&self, bufs: &[IoSlice<'_>]) -> Option<(usize, Arc<OwnedFd>, u64)> {
        if self.refused.load(Ordering::Relaxed) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        if entries.is_empty() {
            return None;
        }
        bufs.iter().enumerate().find_map(|(index, buf)| {
            let start = buf.as_ptr() as usize;
            if buf.is_empty() {
                return None;
            }
            let ((base, _), entry) = entries.range(..=(start, u64::MAX)).next_back()?;
            (start + buf.len() <= entry.end).then(|| {
                (
                    index,
                    entry.file.clone(),
                    entry.offset + (start - base) as u64,
                )
            })
        })
    }

    fn refuse(&self, err: &io::Error) {
        if !self.refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %err, "sendfile refused; writing view bodies with writev from now on");
        }
    }
}

/// What sendfile may refuse on a kernel or socket that cannot take it: the
/// write goes by writev instead.
fn unsupported(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::UnexpectedEof
        || [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::NOTSOCK]
            .iter()
            .any(|e| err.raw_os_error() == Some(e.raw_os_error()))
}

/// An accepted non-blocking socket that tokio drives.
pub trait Socket: AsyncRead + AsyncWrite + AsFd + Unpin {
    /// Runs `send`, a write of `len` bytes to the socket it is given, until
    /// it does not find the socket's buffer full, waiting for room between.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        send: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>>;
}

macro_rules! socket {
    ($type:ty) => {
        impl Socket for $type {
            fn poll_send(
                &mut self,
                cx: &mut Context<'_>,
                _len: usize,
                mut send: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
            ) -> Poll<io::Result<usize>> {
                loop {
                    match self.try_io(Interest::WRITABLE, || send(self.as_fd())) {
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            ready!(self.poll_write_ready(cx))?;
                        }
                        other => return Poll::Ready(other),
                    }
                }
            }
        }
    };
}
socket!(tokio::net::TcpStream);
socket!(tokio::net::UnixStream);

/// An accepted socket whose writes of registered bodies go by sendfile;
/// without a registry (`server.sendfile = false`) every write is a writev.
pub struct Zerocopy<S> {
    socket: S,
    registry: Option<Arc<Registry>>,
}

impl<S: Socket> Zerocopy<S> {
    pub fn new(socket: S, registry: Option<Arc<Registry>>) -> Self {
        Self { socket, registry }
    }

    /// One sendfile of `len` bytes from `offset`, waiting for room in the
    /// socket's buffer; what went out (maybe less than `len`).
    fn poll_sendfile(
        socket: &mut S,
        registry: &Registry,
        cx: &mut Context<'_>,
        file: &OwnedFd,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let sent = ready!(socket.poll_send(cx, len, |socket| {
            let mut at = offset;
            rustix::fs::sendfile(socket, file, Some(&mut at), len).map_err(io::Error::from)
        }));
        Poll::Ready(match sent {
            // The memfd is sealed at its full length: not expected.
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                registry.sent.inc_by(n as u64);
                Ok(n)
            }
            Err(err) => Err(err),
        })
    }
}

impl<S: Socket> AsyncRead for Zerocopy<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_read(cx, buf)
    }
}

impl<S: Socket> AsyncWrite for Zerocopy<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// As writev would: the slices before the first registered one by
    /// writev, then that one (often the tail of a body hyper wrote part of)
    /// by sendfile; how many bytes went out, `Pending` only if none did.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let matched = this
            .registry
            .as_deref()
            .and_then(|registry| Some((registry, registry.first_match(bufs)?)));
        let Some((registry, (index, file, offset))) = matched else {
            return Pin::new(&mut this.socket).poll_write_vectored(cx, bufs);
        };
        let mut written = 0;
        if index > 0 {
            let head: usize = bufs[..index].iter().map(|b| b.len()).sum();
            match Pin::new(&mut this.socket).poll_write_vectored(cx, &bufs[..index]) {
                Poll::Ready(Ok(n)) if n == head => written = n,
                other => return other,
            }
        }
        match Self::poll_sendfile(
            &mut this.socket,
            registry,
            cx,
            &file,
            offset,
            bufs[index].len(),
        ) {
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(written + n)),
            // The head went out: that is this write's result; an error of
            // the socket shows again at the next one.
            Poll::Pending | Poll::Ready(Err(_)) if written > 0 => Poll::Ready(Ok(written)),
            Poll::Ready(Err(err)) if unsupported(&err) => {
                registry.refuse(&err);
                Pin::new(&mut this.socket).poll_write_vectored(cx, &bufs[index..])
            }
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "zerocopy_tests.rs"]
mod tests;
