//! `down`: alarms and dashboard, then Kubernetes objects (so load balancers made for
//! Ingresses are released before their VPC goes), then `terraform destroy` by plan.
//! Whatever is already gone counts as done, so an interrupted `down` is re-run.

use std::time::{Duration, Instant};

use crate::aws::{alarms, dashboard};
use crate::context::Context;
use crate::kube::apply::prune_kinds;
use crate::kube::cluster::{self, ClusterAccess};
use crate::kube::Applier;
use crate::profile::Profile;
use crate::terraform::Terraform;
use crate::{Error, Result};

use super::{safety, DeployTree, DownOptions, DownReport, Session};

const KUBE_DELETE_WAIT: Duration = Duration::from_secs(5 * 60);

pub(super) async fn run(
    ctx: &Context,
    profile: &Profile,
    opts: &DownOptions,
) -> Result<DownReport> {
    let ui = &ctx.ui;
    safety::confirm_down(ui, profile, opts.force_protected.as_deref())?;
    let terraform = Terraform::discover(opts.terraform.as_deref())?;
    let tree = DeployTree::render_to_disk(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    let mut report = DownReport {
        environment: profile.name.to_string(),
        ..DownReport::default()
    };

    let cw = session.aws.cloudwatch();
    let step = ui.step("deleting CloudWatch alarms and dashboard");
    report.alarms_deleted =
        alarms::delete_all(&cw, &profile.alarm_prefix(), profile.name.as_str()).await?;
    report.dashboard_deleted = dashboard::delete(&cw, &profile.dashboard_name()).await?;
    step.done(&format!(
        "{} alarm(s) deleted, dashboard {}",
        report.alarms_deleted.len(),
        if report.dashboard_deleted {
            "deleted"
        } else {
            "already gone"
        }
    ));

    let cluster_name = profile.cluster_name();
    let step = ui.step(format!(
        "deleting Kubernetes objects labeled {}",
        tree.prune_selector
    ));
    match cluster::describe(&session.aws, &cluster_name).await? {
        None => {
            report.kubernetes_skipped =
                Some(format!("cluster {cluster_name} not found: already gone"))
        }
        Some(info) if info.status != "ACTIVE" => {
            report.kubernetes_skipped = Some(format!("cluster {cluster_name} is {}", info.status))
        }
        Some(_) => {
            let mut access = ClusterAccess::connect(&session.aws, &cluster_name).await?;
            let mut applier = Applier::new(access.client().await?);
            let kinds = prune_kinds(&tree.kinds());
            for key in applier.list_labeled(&tree.prune_selector, &kinds).await? {
                step.update(&key.to_string());
                if applier.delete(&key).await? {
                    report.kubernetes_deleted.push(key.to_string());
                }
            }
            // Finalizers (load balancers, namespaces) take a while: wait for them.
            let deadline = Instant::now() + KUBE_DELETE_WAIT;
            loop {
                let mut applier = Applier::new(access.client().await?);
                let left = applier.list_labeled(&tree.prune_selector, &kinds).await?;
                if left.is_empty() {
                    break;
                }
                if Instant::now() > deadline {
                    step.fail("objects still terminating");
                    return Err(Error::Kubernetes {
                        operation: "deleting the environment's objects".into(),
                        message: format!(
                            "still there after {} minutes: {}",
                            KUBE_DELETE_WAIT.as_secs() / 60,
                            left.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
                        ),
                        help: Some(
                            "check their finalizers (`kubectl get -o yaml`), then re-run `envctl down`; nothing else was destroyed yet"
                                .into(),
                        ),
                    });
                }
                step.update(&format!(
                    "waiting for {} object(s) to finish terminating",
                    left.len()
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    match &report.kubernetes_skipped {
        Some(why) => step.done(&format!("skipped: {why}")),
        None => step.done(&format!(
            "{} object(s) deleted",
            report.kubernetes_deleted.len()
        )),
    }

    match session.existing_backend().await? {
        None => {
            report.terraform_skipped = Some(
                "no state backend in this account and region: nothing was ever applied".into(),
            );
        }
        Some(backend) => {
            let workspace = session.workspace(terraform, tree.terraform_dir()?);
            workspace.init(&backend.backend_config()).await?;
            let plan = workspace.plan(true).await?;
            if plan.has_changes() {
                ui.event(
                    "plan",
                    &plan.to_text(),
                    serde_json::json!({ "summary": plan }),
                );
                workspace.apply().await?;
            } else {
                report.terraform_skipped =
                    Some("the state holds no resources: already destroyed".into());
            }
            report.terraform = Some(plan);
            // The release history goes with the environment: nothing is left to roll
            // back to (and review stacks would otherwise leave theirs behind).
            session.releases(&backend).trim(0).await?;
        }
    }
    Ok(report)
}
