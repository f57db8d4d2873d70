use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::BoxError;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Either};
use tower::{Layer, Service};

use crate::error::{code_for_status, error_response};

/// Error messages longer than this from lower layers are replaced by the status text.
const MAX_PASSTHROUGH_MESSAGE: usize = 512;

/// Gives every 4xx/5xx a JSON body, whoever produced it: axum's 405 and
/// extractor rejections, tower-http's 413 and timeouts; and turns a handler's
/// panic into a 500 JSON error. Responses that are JSON already, and every
/// success, pass untouched and unboxed: a future of its own rather than
/// `from_fn` and `CatchPanicLayer`, which box per request.
#[derive(Clone, Copy, Default)]
pub struct ErrorsLayer;

impl<S> Layer<S> for ErrorsLayer {
    type Service = Errors<S>;

    fn layer(&self, inner: S) -> Errors<S> {
        Errors { inner }
    }
}

#[derive(Clone)]
pub struct Errors<S> {
    inner: S,
}

/// What [`Errors`] answers: the inner response as it was, or one it rebuilt.
pub type ErrorsBody<B> = Either<B, Body>;

impl<S, B, ReqBody> Service<Request<ReqBody>> for Errors<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ErrorsBody<B>>;
    type Error = Infallible;
    type Future = ErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(future) => ErrorsFuture::Inner { future },
            Err(payload) => ErrorsFuture::Done {
                response: Some(panic_response(payload)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    #[project = ErrorsProj]
    pub enum ErrorsFuture<F> {
        Inner { #[pin] future: F },
        Rewrite { future: Pin<Box<dyn Future<Output = Response<Body>> + Send>> },
        Done { response: Option<Response<Body>> },
    }
}

impl<F, B> Future for ErrorsFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ErrorsBody<B>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let rewrite = match self.as_mut().project() {
                ErrorsProj::Inner { future } => {
                    let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                    let response = match polled {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(response))) => response,
                        Err(payload) => {
                            return Poll::Ready(Ok(panic_response(payload).map(Either::Right)));
                        }
                    };
                    let status = response.status();
                    if !(status.is_client_error() || status.is_server_error()) || is_json(&response)
                    {
                        return Poll::Ready(Ok(response.map(Either::Left)));
                    }
                    Box::pin(json_error(response))
                }
                ErrorsProj::Rewrite { future } => {
                    let response = ready!(future.as_mut().poll(cx));
                    return Poll::Ready(Ok(response.map(Either::Right)));
                }
                ErrorsProj::Done { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(Either::Right)));
                }
            };
            self.set(ErrorsFuture::Rewrite { future: rewrite });
        }
    }
}

/// The error response again, with a JSON body carrying its message.
async fn json_error<B>(response: Response<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let (parts, body) = response.into_parts();
    // Bodies of these responses are short plain-text messages; read a bounded amount.
    let limited = http_body_util::Limited::new(body, MAX_PASSTHROUGH_MESSAGE);
    let text = match limited.collect().await {
        Ok(collected) => String::from_utf8(collected.to_bytes().to_vec()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let message = if status.is_server_error() || text.trim().is_empty() {
        default_message(status)
    } else {
        text.trim().to_owned()
    };
    let mut rebuilt = error_response(status, code_for_status(status), &message);
    // Keep headers such as `allow` (405) and `retry-after`.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}

fn is_json<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/json") || ct.starts_with("application/problem+json")
        })
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "method not allowed on this route; see the allow header".into()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".into(),
        StatusCode::SERVICE_UNAVAILABLE => {
            "the request did not finish in time or the service is unavailable".into()
        }
        StatusCode::INTERNAL_SERVER_ERROR => {
            "internal error; the request id identifies it in the logs".into()
        }
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    }
}

/// What a handler's panic said, on its 500 for `Observe` to log in the
/// request's span (a read the cached-read lane answers has none open).
/// Never written to the client.
#[derive(Clone)]
pub struct Panicked(pub String);

/// A panic's answer: a 500 JSON error. The panic payload goes to the log only.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    let mut response = error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the request id identifies it in the logs",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .extensions_mut()
        .insert(Panicked(detail.to_owned()));
    response
}
