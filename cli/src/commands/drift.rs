//! `envctl drift ENV`: exit 0 when the environment is as envctl applied it, 2 when
//! anything drifted, 1 on error (like `plan -detailed-exitcode`).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::DriftArgs;
use crate::context::Context;
use crate::deploy;
use crate::profile::Target;
use crate::{Error, Result};

pub fn run(ctx: &Context, args: &DriftArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    if profile.target == Target::Local {
        return Err(Error::Refused {
            message:
                "drift compares AWS environments; the local one is what `envctl up local` started"
                    .into(),
            help: Some("`envctl status local` shows its processes".into()),
        });
    }
    let report = deploy::drift(ctx, &profile, args.terraform.terraform.as_deref())?;
    ctx.ui.result(
        &report.to_text(),
        &json!({ "event": "result", "drift": report }),
    );
    Ok(if report.drift {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
