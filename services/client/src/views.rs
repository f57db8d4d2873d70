//! The three views of a topic, with the headers a reader cares about.

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

/// What a view request adds to the plain GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewQuery {
    pub limit: Option<u32>,
    /// `If-None-Match`: a 304 when the view still has this ETag.
    pub if_none_match: Option<String>,
    /// `Accept-Encoding`; the body comes back in that encoding, as sent.
    pub accept_encoding: Option<String>,
}

impl ViewQuery {
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn if_none_match(mut self, etag: impl Into<String>) -> Self {
        self.if_none_match = Some(etag.into());
        self
    }

    pub fn accept_encoding(mut self, encodings: impl Into<String>) -> Self {
        self.accept_encoding = Some(encodings.into());
        self
    }
}

/// A 200 or a 304.
#[derive(Debug, Clone)]
pub struct ViewReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// As sent: compressed when the request asked for an encoding.
    pub body: Bytes,
}

impl ViewReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    pub fn content_encoding(&self) -> Option<&str> {
        self.header("content-encoding")
    }

    pub fn is_not_modified(&self) -> bool {
        self.status == StatusCode::NOT_MODIFIED
    }

    /// The items of an uncompressed 200, as `T` (e.g. `serde_json::Value`).
    pub fn items<T: DeserializeOwned>(&self) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}
