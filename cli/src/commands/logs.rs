//! `envctl logs`: show local process logs.

use std::process::ExitCode;

use crate::context::Context;

pub fn run(_ctx: &Context, _args: &crate::cli::LogsArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
