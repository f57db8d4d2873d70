#![doc = include_str!("../README.md")]

mod settings;

pub use settings::GithubSettings;
