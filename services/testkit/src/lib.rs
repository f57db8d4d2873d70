#![doc = include_str!("../README.md")]

mod app;
mod db;
mod nginx;
mod openapi;
mod servers;
mod sim;

pub use app::{ADMIN_TOKEN, TestApp, test_settings};
pub use db::{TestDb, TestRedis};
pub use nginx::TestNginx;
pub use openapi::{Checked, OpenApiChecker, Operation, Route};
pub use servers::{PrivatePostgres, private_postgres};
pub use sim::TestSim;
