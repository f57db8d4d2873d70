#![doc = include_str!("../README.md")]

mod client;
mod error;
mod pace;
mod settings;

pub use client::{Activity, CursorPage, Deal, NewActivity, NewDeal, PipedriveClient};
pub use error::{Disposition, PipedriveError};
pub use settings::PipedriveSettings;
