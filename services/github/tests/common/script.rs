//! A GitHub stand-in that answers what a test scripts, per path, in order,
//! and records every request: for the statuses the simulator does not
//! serve yet (202, 204, 301, 410, 451, the OAuth origin).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Quota headers as GitHub sends them, `remaining` left of 5,000.
    pub fn quota(self, remaining: u64) -> Reply {
        let reset = (chrono::Utc::now() + chrono::TimeDelta::minutes(30)).timestamp();
        self.header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", &remaining.to_string())
            .header("x-ratelimit-reset", &reset.to_string())
            .header("x-ratelimit-resource", "core")
    }
}

/// A request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct State {
    /// Keyed by path and query, or by path alone.
    replies: HashMap<String, VecDeque<Reply>>,
    seen: Vec<Seen>,
}

pub struct Script {
    pub base: String,
    state: Arc<Mutex<State>>,
    _stop: oneshot::Sender<()>,
}

impl Script {
    pub async fn start() -> Script {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, &uri, headers, &body) }
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Script {
            base,
            state,
            _stop: stop,
        }
    }

    /// Queues `reply` for `path` (with its query, or without to match any).
    pub fn on(&self, path: &str, reply: Reply) -> &Self {
        self.lock()
            .replies
            .entry(path.to_owned())
            .or_default()
            .push_back(reply);
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: &[u8],
) -> Response {
    let mut state = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let full = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |pq| pq.as_str().to_owned());
    state.seen.push(Seen {
        method,
        uri: full.clone(),
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    });
    let reply = [full.as_str(), uri.path()]
        .iter()
        .find_map(|key| state.replies.get_mut(*key).and_then(VecDeque::pop_front));
    let Some(reply) = reply else {
        return (
            StatusCode::IM_A_TEAPOT,
            format!("nothing scripted for {full}"),
        )
            .into_response();
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        reply.body.clone(),
    )
        .into_response();
    for (name, value) in &reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}
