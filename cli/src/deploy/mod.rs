//! Deploying an AWS environment: `plan`, `up`, `down` and `status`, used by the
//! commands and by review stacks. Each works from the rendered tree (`.envctl/ENV/`).

pub mod bake;
mod down;
mod drift;
mod history;
pub mod infra;
pub mod lock;
mod options;
mod plan;
pub mod release;
mod report;
mod rollback;
pub mod safety;
mod session;
pub mod smoke;
mod status;
pub mod tree;
mod up;

pub use drift::DriftReport;
pub use history::HistoryReport;
pub use options::{
    DownOptions, ImageContractCheck, PlanOptions, RollbackOptions, UpOptions, WatchOptions,
};
pub use report::{DownReport, StatusReport, UpReport};
pub use rollback::RollbackReport;
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
    up_watched(ctx, profile, opts, &WatchOptions::default())
}

/// [`up`] with the bake's options (`envctl up` flags).
pub fn up_watched(
    ctx: &Context,
    profile: &Profile,
    opts: &UpOptions,
    watch: &WatchOptions,
) -> Result<UpReport> {
    Session::runtime()?.block_on(up::run(ctx, profile, opts, watch))
}

/// Applies an earlier release again (its Deployments and the ConfigMaps and Secrets
/// they read; never its migration Job) and waits for the rollout.
pub fn rollback(
    ctx: &Context,
    profile: &Profile,
    opts: &RollbackOptions,
) -> Result<RollbackReport> {
    Session::runtime()?.block_on(rollback::run(ctx, profile, opts))
}

/// What differs between the environment and what envctl applied, across Terraform,
/// Kubernetes and CloudWatch. Read-only.
pub fn drift(
    ctx: &Context,
    profile: &Profile,
    terraform: Option<&std::path::Path>,
) -> Result<DriftReport> {
    Session::runtime()?.block_on(drift::run(ctx, profile, terraform))
}

/// The releases envctl applied to the environment, oldest first.
pub fn history(ctx: &Context, profile: &Profile) -> Result<HistoryReport> {
    Session::runtime()?.block_on(history::run(ctx, profile))
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
