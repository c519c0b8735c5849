//! `envctl down`: tear an environment down (AWS: alarms, Kubernetes objects, then
//! Terraform resources; local: stop the processes).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::DownArgs;
use crate::context::Context;
use crate::deploy::{self, DownOptions};
use crate::profile::{Profile, Target};
use crate::Result;

pub fn run(ctx: &Context, args: &DownArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    match profile.target {
        Target::Aws => aws(ctx, &profile, args),
        Target::Local => crate::local::down(ctx, &profile, args),
    }
}

fn aws(ctx: &Context, profile: &Profile, args: &DownArgs) -> Result<ExitCode> {
    let opts = DownOptions {
        terraform: args.terraform.terraform.clone(),
        force_protected: args.force_protected.clone(),
    };
    let report = deploy::down(ctx, profile, &opts)?;
    ctx.ui.result(
        &report.to_text(),
        &json!({ "event": "result", "down": report }),
    );
    Ok(ExitCode::SUCCESS)
}
