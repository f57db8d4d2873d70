#![doc = include_str!("../README.md")]

mod context;
mod gist_metrics;
mod graph_metrics;
mod graph_settings;
mod job;
pub mod kinds;
mod pages;
mod registry;
mod settings;
mod user_auth;
mod views;
mod worker;

pub use context::{GistContext, JobContext};
pub use gist_metrics::GistMetrics;
pub use graph_metrics::GraphMetrics;
pub use graph_settings::DevGraphSettings;
pub use job::{Job, JobError, JobRun, Outcome, enqueue, enqueue_at};
pub use pages::{PgPages, remember_page};
pub use registry::Registry;
pub use settings::{GistSettings, OrgSettings, WorkerSettings};
pub use user_auth::{AuthSettings, AuthenticatedUser, DeviceCodeReply, SignIn, TokenReply};
pub use views::stored_view;
pub use worker::{JobObserver, WorkerPool, WorkerPoolHandle};
