//! `envctl up`: deploy an environment (AWS), or run it on this machine (local).

use std::process::ExitCode;

use serde_json::json;

use crate::cli::UpArgs;
use crate::context::Context;
use crate::deploy::{self, ImageContractCheck, UpOptions, WatchOptions};
use crate::profile::{Profile, Target};
use crate::{Error, Result};

pub fn run(ctx: &Context, args: &UpArgs) -> Result<ExitCode> {
    let mut profile = ctx.load_profile(&args.env)?;
    if let Some(tag) = &args.image_tag {
        profile = profile.with_image_tag(tag.clone());
    }
    match profile.target {
        Target::Aws => {
            if let Some(url) = &args.webhook_url {
                return Err(Error::InvalidArgument {
                    what: "--webhook-url".into(),
                    value: url.to_string(),
                    message: format!(
                        "is for `envctl up local` only: {}'s webhook is runtime.events.webhook_url in its profile, so every deploy posts to the same place",
                        profile.name
                    ),
                });
            }
            aws(ctx, &profile, args)
        }
        Target::Local => {
            if let Some(url) = &args.webhook_url {
                profile.runtime.events.webhook_url = Some(url.clone());
            }
            crate::local::up(ctx, &profile, args)
        }
    }
}

fn aws(ctx: &Context, profile: &Profile, args: &UpArgs) -> Result<ExitCode> {
    let opts = UpOptions {
        terraform: args.terraform.terraform.clone(),
        timeout: args.timeout,
        force_protected: args.force_protected.clone(),
        image_contract: if args.skip_contract_check {
            ImageContractCheck::Off
        } else {
            ImageContractCheck::Skippable
        },
    };
    let watch = WatchOptions {
        ignore_firing_alarms: args.ignore_firing_alarms,
    };
    let report = deploy::up_watched(ctx, profile, &opts, &watch)?;
    ctx.ui.result(
        &report.to_text(),
        &json!({ "event": "result", "up": report }),
    );
    Ok(ExitCode::SUCCESS)
}
