//! `envctl review`: per-pull-request review stacks.

use std::process::ExitCode;

use crate::context::Context;

pub fn up(_ctx: &Context, _args: &crate::cli::ReviewUpArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
pub fn down(_ctx: &Context, _args: &crate::cli::ReviewDownArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
pub fn list(_ctx: &Context) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
pub fn gc(_ctx: &Context, _args: &crate::cli::ReviewGcArgs) -> crate::Result<ExitCode> { Err(crate::Error::Prerequisite { message: "this command is not built yet".into(), help: None }) }
