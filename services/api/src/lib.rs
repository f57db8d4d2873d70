#![doc = include_str!("../README.md")]

mod app;
mod auth;
pub mod error;
pub mod metrics;
mod middleware;
mod prefixes;
mod routes;
mod server;
mod session;
pub mod settings;
mod state;
mod views;

pub use app::{Application, REPLICA_HEADER, StartError};
pub use settings::Settings;
pub use state::AppState;
