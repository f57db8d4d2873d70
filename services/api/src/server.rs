//! The connection loop: hyper-util's auto (HTTP/1 + h2c) connection builder
//! over a tower service, a cap on open connections, and a graceful drain.
//! Connections come from a TCP listener and, when configured, a Unix socket
//! (what a proxy on the same host uses: no TCP stack on either side).

use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::BoxError;
use axum::extract::Request;
use axum::http::Response;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::auth::Peer;
use crate::local_stream::LocalStream;
use crate::zerocopy::{Registry, Socket, Zerocopy};

pub struct ServeOptions {
    pub max_connections: usize,
    /// How long a TCP client may take to send a request's headers, and so
    /// how long an idle keep-alive connection stays open. Not on the Unix
    /// socket (see [`Connections`]).
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Writes of registered view bodies go by sendfile; `None`: all by writev.
    pub zerocopy: Option<Arc<Registry>>,
}

/// A Unix socket listener that removes its socket file when dropped.
pub struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixSocket {
    /// Binds `path`. A file left there by a process that died is replaced;
    /// a socket some live process still answers on is an error, never stolen.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is listening on this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        // Anyone on the host may connect, as anyone on the host may connect
        // to the loopback port: the proxy's workers often run as another user.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves until `shutdown` is cancelled, then stops accepting and gives open
/// connections `shutdown_grace` to finish their requests.
pub async fn serve<S, B>(
    tcp: TcpListener,
    unix: Option<UnixSocket>,
    service: S,
    options: ServeOptions,
    shutdown: CancellationToken,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut remote = auto::Builder::new(TokioExecutor::new());
    remote
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let mut local = auto::Builder::new(TokioExecutor::new());
    local.http1().header_read_timeout(None).keep_alive(true);
    let connections = Connections {
        remote,
        local,
        graceful: GracefulShutdown::new(),
        zerocopy: options.zerocopy,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let accept_backoff =
        hubpulse_runtime::Backoff::new(Duration::from_millis(5), Duration::from_secs(1));
    // Built at the first failure of a run of them, dropped at the next success.
    let mut accept_waits = None;

    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted.map(|(stream, peer)| {
                let _ = stream.set_nodelay(true);
                let local = peer.ip().is_loopback();
                connections.spawn(&connections.remote, stream, service.clone(), permit, Peer { local });
            }),
            accepted = accept_unix(unix.as_ref()) => accepted.and_then(LocalStream::new).map(|stream| {
                connections.spawn(&connections.local, stream, service.clone(), permit, Peer { local: true });
            }),
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok(()) => accept_waits = None,
            Err(err) => {
                // Typically EMFILE: back off instead of spinning, as mini-redis does.
                tracing::warn!(error = %err, "accept failed");
                let wait = accept_waits
                    .get_or_insert_with(|| accept_backoff.waits())
                    .next()
                    .unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
        }
    }
    drop(tcp);
    // The socket file goes now: the proxy's next connect is refused at
    // once and it moves to another replica.
    drop(unix);
    tracing::info!(
        open = connections.graceful.count(),
        "stopped accepting; draining connections"
    );
    if tokio::time::timeout(options.shutdown_grace, connections.graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
}

async fn accept_unix(unix: Option<&UnixSocket>) -> io::Result<tokio::net::UnixStream> {
    match unix {
        Some(socket) => socket.listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Two connection builders, as the two listeners' peers differ.
///
/// `remote`, for TCP: hyper re-arms its header-read timer for every request
/// (a boxed sleep, a timer-wheel entry, then its removal); that is what cuts
/// off a slow or idle client.
///
/// `local`, for the Unix socket: only a proxy on this host connects there,
/// and nginx sends a request on once it has all of its headers (its own
/// `client_header_timeout` guards the slow client) and closes idle upstream
/// connections itself (`keepalive_timeout`). The timer would guard nothing,
/// at 1,300 of a cached read's 33,400 instructions (scripts/callgrind.sh).
struct Connections {
    remote: auto::Builder<TokioExecutor>,
    local: auto::Builder<TokioExecutor>,
    graceful: GracefulShutdown,
    zerocopy: Option<Arc<Registry>>,
}

impl Connections {
    fn spawn<S, B, IO>(
        &self,
        builder: &auto::Builder<TokioExecutor>,
        stream: IO,
        service: S,
        permit: OwnedSemaphorePermit,
        peer: Peer,
    ) where
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        IO: Socket + Send + 'static,
    {
        // Cached view bodies go out by sendfile when that is on.
        let stream = Zerocopy::new(stream, self.zerocopy.clone());
        let service =
            tower::ServiceExt::map_request(service, move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(peer);
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = self.graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
