//! `envctl bootstrap`: create or update the Terraform state backend.

use std::process::ExitCode;

use crate::context::Context;

pub fn run(_ctx: &Context, _args: &crate::cli::EnvArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
