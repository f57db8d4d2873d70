#![doc = include_str!("../README.md")]

mod app;
mod auth;
mod cached_reads;
mod deadline;
pub mod error;
mod http_metrics;
mod local_stream;
pub mod metrics;
mod middleware;
mod observe;
mod precompressed;
mod prefixes;
mod routes;
mod server;
mod session;
pub mod settings;
mod state;
mod views;
mod zerocopy;

pub use app::{Application, StartError};
pub use observe::REPLICA_HEADER;
pub use settings::Settings;
pub use state::AppState;
