//! Deploying an AWS environment: `plan`, `up`, `down` and `status`, used by the
//! commands and by review stacks. Each works from the rendered tree (`.envctl/ENV/`).

mod down;
pub mod infra;
mod options;
mod plan;
mod report;
pub mod safety;
mod session;
mod status;
pub mod tree;
mod up;

pub use options::{DownOptions, ImageContractCheck, PlanOptions, UpOptions};
pub use report::{DownReport, StatusReport, UpReport};
pub use session::Session;
pub use tree::DeployTree;

use crate::aws::StateBackend;
use crate::context::Context;
use crate::profile::Profile;
use crate::terraform::PlanSummary;
use crate::Result;

/// Deploys the environment: state backend (created when missing), Terraform plan and
/// apply (after confirmation when it changes anything), Kubernetes objects with the
/// migration Job first, rollouts, alarms and dashboard. Re-running changes nothing.
pub fn up(ctx: &Context, profile: &Profile, opts: &UpOptions) -> Result<UpReport> {
    Session::runtime()?.block_on(up::run(ctx, profile, opts))
}

/// Tears the environment down in reverse order: alarms and dashboard, Kubernetes
/// objects, Terraform resources. Anything already gone counts as done.
pub fn down(ctx: &Context, profile: &Profile, opts: &DownOptions) -> Result<DownReport> {
    Session::runtime()?.block_on(down::run(ctx, profile, opts))
}

/// Renders and plans, changing nothing; the summary says what `up` would do.
pub fn plan(ctx: &Context, profile: &Profile, opts: &PlanOptions) -> Result<PlanSummary> {
    Session::runtime()?.block_on(plan::run(ctx, profile, opts))
}

/// The environment's state: backend stack, cluster, rollouts, alarms, endpoints.
pub fn status(ctx: &Context, profile: &Profile) -> Result<StatusReport> {
    Session::runtime()?.block_on(status::run(ctx, profile))
}

/// Creates or updates the state backend of the environment's account and region.
pub fn bootstrap(ctx: &Context, profile: &Profile) -> Result<StateBackend> {
    Session::runtime()?.block_on(async {
        let session = Session::connect(ctx, profile).await?;
        session.ensure_backend().await
    })
}
