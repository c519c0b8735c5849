//! `plan`: render, init against the existing state backend, plan to a file, summarise.

use crate::context::Context;
use crate::profile::Profile;
use crate::terraform::{PlanSummary, Terraform};
use crate::{Error, Result};

use super::{DeployTree, PlanOptions, Session};

pub(super) async fn run(
    ctx: &Context,
    profile: &Profile,
    opts: &PlanOptions,
) -> Result<PlanSummary> {
    let terraform = Terraform::discover(opts.terraform.as_deref())?;
    let tree = DeployTree::render_to_disk(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    let backend = session
        .existing_backend()
        .await?
        .ok_or_else(|| Error::Prerequisite {
            message: format!(
                "the Terraform state backend of account {} in {} does not exist yet",
                session.account_id, session.aws.region
            ),
            help: Some(format!(
                "run `envctl bootstrap {0}` (or `envctl up {0}`, which creates it)",
                profile.name
            )),
        })?;
    let workspace = session.workspace(terraform, tree.terraform_dir()?);
    workspace.init(&backend.backend_config()).await?;
    workspace.plan(false).await
}
