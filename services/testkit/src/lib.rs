#![doc = include_str!("../README.md")]

mod app;
mod cluster;
mod db;
mod nginx;
mod openapi;
mod replica;
mod servers;
mod sim;
mod wait;

pub use app::{ADMIN_TOKEN, TestApp, test_client, test_settings};
pub use cluster::TestRedisCluster;
pub use db::{TestDb, TestRedis};
pub use nginx::TestNginx;
pub use openapi::{Checked, OpenApiChecker, Operation, Route};
pub use replica::TestReplicatedPostgres;
pub use servers::{PrivatePostgres, private_postgres};
pub use sim::TestSim;
pub use wait::{eventually, free_port};
