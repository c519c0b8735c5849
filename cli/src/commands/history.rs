//! `envctl history ENV`: the releases envctl applied.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::EnvArgs;
use crate::context::Context;
use crate::deploy;
use crate::profile::Target;
use crate::{Error, Result};

pub fn run(ctx: &Context, args: &EnvArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    if profile.target == Target::Local {
        return Err(Error::Refused {
            message: "the local environment keeps no releases".into(),
            help: None,
        });
    }
    let report = deploy::history(ctx, &profile)?;
    ctx.ui.result(
        &report.to_text(),
        &json!({ "event": "result", "history": report }),
    );
    Ok(ExitCode::SUCCESS)
}
