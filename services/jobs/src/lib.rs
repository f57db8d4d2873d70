#![doc = include_str!("../README.md")]

mod context;
mod graph_settings;
mod job;
pub mod kinds;
mod pages;
mod registry;
mod settings;
mod views;
mod worker;

pub use context::JobContext;
pub use graph_settings::DevGraphSettings;
pub use job::{Job, JobError, JobRun, Outcome, enqueue, enqueue_at};
pub use pages::{PgPages, remember_page};
pub use registry::Registry;
pub use settings::{OrgSettings, WorkerSettings};
pub use views::stored_view;
pub use worker::{JobObserver, WorkerPool, WorkerPoolHandle};
