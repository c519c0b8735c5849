//! envctl: render, deploy and operate the rates service's environments.

pub mod aws;
pub mod cli;
pub mod client_token;
pub mod commands;
pub mod context;
pub mod deploy;
pub mod error;
pub mod kube;
pub mod local;
pub mod profile;
pub mod render;
pub mod review;
pub mod run;
pub mod terraform;
pub mod test_hooks;
pub mod ui;
pub mod webhook_secret;

pub use error::{Error, Result};
