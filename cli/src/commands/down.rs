//! `envctl down`: tear an environment down.

use std::process::ExitCode;

use crate::context::Context;

pub fn run(_ctx: &Context, _args: &crate::cli::DownArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
