//! `envctl logs ENV [api|worker|db]`: show (and follow) the logs of a local environment's processes.

use std::process::ExitCode;

use crate::cli::LogsArgs;
use crate::context::Context;
use crate::profile::Target;
use crate::{Error, Result};

/// Prints the logs of a `target: local` environment; AWS environments log to CloudWatch.
pub fn run(ctx: &Context, args: &LogsArgs) -> Result<ExitCode> {
    let profile = ctx.load_profile(&args.env)?;
    match profile.target {
        Target::Local => crate::local::logs(ctx, &profile, args),
        Target::Aws => Err(Error::InvalidArgument {
            what: "envctl logs".into(),
            value: args.env.clone(),
            message: format!(
                "`{}` runs in AWS: its logs are in CloudWatch Logs (see `envctl status {}`); \
                 `envctl logs` reads the logs of local environments",
                args.env, args.env
            ),
        }),
    }
}
