//! The request timeout, with its timer made only when a request has to wait.
//!
//! tower-http's `Timeout` registers a timer with the runtime for every
//! request and cancels it when the answer comes: on a cached read, which is
//! answered in the first poll, that was about a thousand instructions of
//! timer wheel work per request (scripts/callgrind.sh). Here the deadline is
//! taken when the request arrives, as before, but the timer is only made
//! when the inner future first returns `Pending`; a request past its
//! deadline still gets the same 503 (the errors layer gives it its JSON).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Response, StatusCode};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

#[derive(Clone, Copy)]
pub struct DeadlineLayer {
    timeout: Duration,
}

impl DeadlineLayer {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S, Req, B> Service<Req> for Deadline<S>
where
    S: Service<Req, Response = Response<B>>,
    B: Default,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        DeadlineFuture {
            deadline: Instant::now() + self.timeout,
            inner: self.inner.call(req),
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        deadline: Instant,
    }
}

impl<F, B, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.is_none() {
            this.sleep
                .set(Some(tokio::time::sleep_until(*this.deadline)));
        }
        let sleep = this.sleep.as_pin_mut().expect("set just above");
        match sleep.poll(cx) {
            Poll::Ready(()) => {
                let mut response = Response::new(B::default());
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                Poll::Ready(Ok(response))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn answer(wait: Duration) -> Result<Response<String>, Infallible> {
        tokio::time::sleep(wait).await;
        Ok(Response::new("done".to_owned()))
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_time_passes_and_a_late_one_is_a_503() {
        let service = DeadlineLayer::new(Duration::from_millis(100))
            .layer(tower::service_fn(|wait: Duration| answer(wait)));
        let quick = service.clone().oneshot(Duration::ZERO).await.unwrap();
        assert_eq!(quick.status(), StatusCode::OK);
        assert_eq!(quick.body(), "done");
        let slow = service
            .clone()
            .oneshot(Duration::from_millis(99))
            .await
            .unwrap();
        assert_eq!(slow.status(), StatusCode::OK);
        let late = service.oneshot(Duration::from_millis(101)).await.unwrap();
        assert_eq!(late.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(late.body(), "");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_request_not_the_first_wait() {
        // The inner future is made at `call`; the time before it is first
        // polled counts against the deadline.
        let mut service = DeadlineLayer::new(Duration::from_millis(100))
            .layer(tower::service_fn(|wait: Duration| answer(wait)));
        let future = service.call(Duration::from_millis(60));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let response = future.await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
