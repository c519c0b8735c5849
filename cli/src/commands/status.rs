//! `envctl status`: an environment's state (AWS: state backend, cluster, rollouts,
//! alarms with ALARM first, endpoints; local: the processes).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::EnvArgs;
use crate::context::Context;
use crate::deploy;
use crate::profile::Target;
use crate::Result;

pub fn run(ctx: &Context, args: &EnvArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    match profile.target {
        Target::Aws => {
            let report = deploy::status(ctx, &profile)?;
            ctx.ui.result(
                &report.to_text(),
                &json!({ "event": "result", "status": report }),
            );
            Ok(ExitCode::SUCCESS)
        }
        Target::Local => crate::local::status(ctx, &profile),
    }
}
