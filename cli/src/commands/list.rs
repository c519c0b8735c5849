//! `envctl list`: list the environments.

use std::process::ExitCode;

use crate::context::Context;

pub fn run(_ctx: &Context) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
