//! `envctl rollback ENV [--to REVISION]`: apply an earlier release again.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::deploy::{self, RollbackOptions};
use crate::profile::Target;
use crate::{Error, Result};

pub fn run(ctx: &Context, args: &RollbackArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    if profile.target == Target::Local {
        return Err(Error::Refused {
            message: "the local environment keeps no releases".into(),
            help: Some("run `envctl up local` with the version you want".into()),
        });
    }
    let opts = RollbackOptions {
        to: args.to,
        timeout: args.timeout,
    };
    let report = deploy::rollback(ctx, &profile, &opts)?;
    ctx.ui.result(
        &report.to_text(),
        &json!({ "event": "result", "rollback": report }),
    );
    Ok(ExitCode::SUCCESS)
}
