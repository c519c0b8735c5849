//! `envctl up`: deploy an environment.

use std::process::ExitCode;

use crate::context::Context;

pub fn run(_ctx: &Context, _args: &crate::cli::UpArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
