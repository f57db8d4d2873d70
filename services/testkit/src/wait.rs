//! Waiting in tests for something about to happen, on the shared backoff
//! policy (`hubpulse_runtime::Backoff::POLL`).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use hubpulse_runtime::backoff::{Backoff, Retryable};

/// Calls `check` until it answers `Ok`, for at most `within`; then fails
/// the test naming `what` and the last `Err`.
pub async fn eventually<T, E, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    check
        .retry(Backoff::POLL.within(within))
        .await
        .unwrap_or_else(|last| panic!("{what}: not within {within:?}; last: {last}"))
}

/// A free loopback port: bound, read and let go at once, for a server the
/// test starts by port number (a process, or one it restarts on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
