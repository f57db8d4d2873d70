//! Compression for what is not compressed already. A full view read
//! (`GET /api/...` without a query) is answered in a stored encoding that
//! the handler negotiates itself (routes/views.rs, `negotiate`), so it skips
//! tower-http's `Compression`: that parses Accept-Encoding again for every
//! request, and its response body inlines a brotli encoder's state (kilobytes)
//! that every later move of the response copied. Everything else (`?limit=`
//! prefixes, OpenAPI, metrics, errors) is compressed as before, its body
//! boxed once so that what moves afterwards is small.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::BoxError;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{Method, Response};
use bytes::Bytes;
use http_body_util::Either;
use tower::{Layer, Service};
use tower_http::compression::{Compression, CompressionLayer};

/// Whether the route answers a stored encoding itself.
fn precompressed<B>(req: &Request<B>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
        && req.uri().path().starts_with("/api/")
        && req.uri().query().is_none()
}

#[derive(Clone)]
pub struct PrecompressedLayer {
    compression: CompressionLayer,
}

impl PrecompressedLayer {
    pub fn new(compression: CompressionLayer) -> Self {
        Self { compression }
    }
}

impl<S: Clone> Layer<S> for PrecompressedLayer {
    type Service = Precompressed<S>;

    fn layer(&self, inner: S) -> Precompressed<S> {
        Precompressed {
            compress: self.compression.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct Precompressed<S> {
    compress: Compression<S>,
    plain: S,
}

impl<S, ReqBody, B> Service<Request<ReqBody>> for Precompressed<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    type Response = Response<Either<B, Body>>;
    type Error = S::Error;
    type Future =
        PrecompressedFuture<S::Future, <Compression<S> as Service<Request<ReqBody>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.plain.poll_ready(cx))?;
        self.compress.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if precompressed(&req) {
            PrecompressedFuture::Plain {
                future: self.plain.call(req),
            }
        } else {
            PrecompressedFuture::Compressed {
                future: self.compress.call(req),
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = PrecompressedProj]
    pub enum PrecompressedFuture<P, C> {
        Plain { #[pin] future: P },
        Compressed { #[pin] future: C },
    }
}

impl<P, C, B, CB, E> Future for PrecompressedFuture<P, C>
where
    P: Future<Output = Result<Response<B>, E>>,
    C: Future<Output = Result<Response<CB>, E>>,
    CB: HttpBody<Data = Bytes> + Send + 'static,
    CB::Error: Into<BoxError>,
{
    type Output = Result<Response<Either<B, Body>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            PrecompressedProj::Plain { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Left)))
            }
            PrecompressedProj::Compressed { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(|body| Either::Right(Body::new(body)))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request<()> {
        Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn only_whole_view_reads_skip_compression() {
        assert!(precompressed(&request(Method::GET, "/api/kubernetes")));
        assert!(precompressed(&request(
            Method::HEAD,
            "/api/popularity/rust"
        )));
        assert!(!precompressed(&request(Method::GET, "/api/rust?limit=3")));
        assert!(!precompressed(&request(Method::GET, "/metrics")));
        assert!(!precompressed(&request(Method::GET, "/openapi.json")));
        assert!(!precompressed(&request(Method::POST, "/api/rust")));
    }
}
