#![doc = include_str!("../README.md")]

pub mod bench;
mod ceiling;
pub mod discovery;
mod graphcases;
pub mod graphgen;
pub mod graphlists;
pub mod graphload;
mod graphrows;
pub mod orgstats;
mod plan;
mod summary;
mod transactions;

pub use plan::{Plan, RedisTarget, Scenario, run};
pub use summary::{Latency, Summary};
