//! `envctl plan`: render and show what `up` would change to the infrastructure.
//! Exit code 0: no changes, 2: changes, 1: error (like `terraform plan -detailed-exitcode`).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::PlanArgs;
use crate::context::Context;
use crate::deploy::{self, PlanOptions};
use crate::profile::Target;
use crate::{Error, Result};

pub fn run(ctx: &Context, args: &PlanArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    if profile.target != Target::Aws {
        return Err(Error::InvalidArgument {
            what: "plan".into(),
            value: args.env.clone(),
            message: "this environment runs on this machine (target: local); there is no infrastructure to plan".into(),
        });
    }
    let opts = PlanOptions {
        terraform: args.terraform.terraform.clone(),
    };
    let summary = deploy::plan(ctx, &profile, &opts)?;
    ctx.ui.result(
        &summary.to_text(),
        &json!({ "event": "result", "environment": profile.name.as_str(), "changes": summary.has_changes(), "summary": summary }),
    );
    Ok(if summary.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
