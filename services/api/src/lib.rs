#![doc = include_str!("../README.md")]

mod app;
pub mod error;
pub mod metrics;
mod middleware;
mod routes;
mod server;
pub mod settings;
mod state;

pub use app::{Application, REPLICA_HEADER, StartError};
pub use settings::Settings;
pub use state::AppState;
