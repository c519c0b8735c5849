//! `envctl bootstrap`: create or update the Terraform state backend of an
//! environment's account and region.

use std::process::ExitCode;

use serde_json::json;

use crate::aws::BackendChange;
use crate::cli::EnvArgs;
use crate::context::Context;
use crate::profile::Target;
use crate::{deploy, Error, Result};

pub fn run(ctx: &Context, args: &EnvArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    if profile.target != Target::Aws {
        return Err(Error::InvalidArgument {
            what: "bootstrap".into(),
            value: args.env.clone(),
            message:
                "this environment runs on this machine (target: local); it has no state backend"
                    .into(),
        });
    }
    let backend = deploy::bootstrap(ctx, &profile)?;
    let verb = match backend.change {
        BackendChange::Created => "created",
        BackendChange::Updated => "updated",
        BackendChange::Unchanged => "already up to date; nothing changed",
    };
    let text = format!(
        "State backend {verb}.\n  stack:      {} ({})\n  bucket:     {}\n  lock table: {}\n  region:     {}\n",
        backend.stack_name, backend.status, backend.bucket, backend.lock_table, backend.region
    );
    ctx.ui.result(
        &text,
        &json!({ "event": "result", "state_backend": backend }),
    );
    Ok(ExitCode::SUCCESS)
}
