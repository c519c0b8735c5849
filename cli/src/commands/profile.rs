//! `envctl profile show`: print a merged profile.

use std::process::ExitCode;

use crate::context::Context;

pub fn show(_ctx: &Context, _args: &crate::cli::EnvArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
