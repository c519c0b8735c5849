//! `drift`: one read-only report across every layer envctl owns — Terraform (a
//! refresh-only plan), Kubernetes (every rendered object against the cluster, for the
//! fields envctl applies, plus managed objects that are gone or extra) and CloudWatch
//! (alarms and the dashboard, described against rendered). Expected differences (the
//! migration Job removed by its TTL, a minor engine version RDS upgraded, replicas an
//! autoscaler owns) are listed apart and are not drift. Takes no lock and writes nothing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::{alarms, dashboard};
use crate::context::Context;
use crate::kube::apply::prune_kinds;
use crate::kube::compare::differences;
use crate::kube::{Applier, ClusterAccess, ObjectKey, RenderedObject};
use crate::profile::Profile;
use crate::terraform::drift::{classify, TerraformDrift};
use crate::terraform::Terraform;
use crate::{Error, Result};

use super::{infra, DeployTree, Session};

/// One difference outside Terraform.
#[derive(Debug, Clone, Serialize)]
pub struct DriftItem {
    /// `kubernetes` or `cloudwatch`.
    pub layer: String,
    /// The object or alarm.
    pub object: String,
    /// `changed`, `missing` (rendered, not there) or `extra` (envctl's, no longer rendered).
    pub kind: String,
    pub details: Vec<String>,
}

/// What `drift` found.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub environment: String,
    /// Anything that is drift (the exit code is 2 when true).
    pub drift: bool,
    pub terraform: TerraformDrift,
    /// Kubernetes and CloudWatch differences.
    pub items: Vec<DriftItem>,
    /// Differences that are expected and not drift.
    pub expected: Vec<DriftItem>,
    /// What was not compared, and why.
    pub notes: Vec<String>,
}

impl DriftReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {}",
            self.environment,
            if self.drift {
                "DRIFT: the environment differs from what envctl applied"
            } else {
                "no drift"
            }
        );
        for r in &self.terraform.drift {
            let _ = writeln!(
                out,
                "  terraform   {} {}{}",
                r.address,
                if r.action == "delete" {
                    "deleted outside Terraform"
                } else {
                    "changed outside Terraform"
                },
                if r.attributes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.attributes.join(", "))
                }
            );
        }
        for item in &self.items {
            let _ = writeln!(out, "  {:<11} {} {}", item.layer, item.object, item.kind);
            for d in &item.details {
                let _ = writeln!(out, "                {d}");
            }
        }
        if !self.terraform.outputs.is_empty() {
            let _ = writeln!(
                out,
                "  terraform outputs differ from the configuration (not applied yet, see `envctl plan`): {}",
                self.terraform.outputs.join(", ")
            );
        }
        for r in &self.terraform.expected {
            let _ = writeln!(
                out,
                "  expected    {}: {}",
                r.address,
                r.expected.as_deref().unwrap_or_default()
            );
        }
        for item in &self.expected {
            let _ = writeln!(
                out,
                "  expected    {} {}: {}",
                item.object,
                item.kind,
                item.details.join("; ")
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

pub(super) async fn run(
    ctx: &Context,
    profile: &Profile,
    terraform_bin: Option<&std::path::Path>,
) -> Result<DriftReport> {
    let ui = &ctx.ui;
    let terraform = Terraform::discover(terraform_bin)?;
    let mut tree = DeployTree::render_to_disk(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    let backend = session
        .existing_backend()
        .await?
        .ok_or_else(|| Error::Refused {
            message: format!(
                "{} has no state backend in this account and region: it was never deployed",
                profile.name
            ),
            help: Some("drift compares a deployed environment; `envctl plan ENV` shows what `up` would create".into()),
        })?;
    let mut report = DriftReport {
        environment: profile.name.to_string(),
        drift: false,
        terraform: TerraformDrift::default(),
        items: Vec::new(),
        expected: Vec::new(),
        notes: Vec::new(),
    };

    // Terraform: what changed outside Terraform since the last apply.
    let workspace = session.workspace(terraform, tree.terraform_dir()?);
    workspace.init(&backend.backend_config()).await?;
    let step = ui.step("terraform: refresh-only plan");
    let (_code, show) = workspace.plan_refresh_only().await?;
    report.terraform = classify(&show)?;
    step.done(&format!(
        "{} drifted, {} expected, {} outputs not applied",
        report.terraform.drift.len(),
        report.terraform.expected.len(),
        report.terraform.outputs.len()
    ));
    let outputs = workspace.outputs().await?;

    // Kubernetes: the rendered objects as `up` would apply them.
    infra::substitute_outputs(&mut tree.objects, &outputs)?;
    if let Some(job) = &mut tree.migration_job {
        infra::substitute_outputs(std::slice::from_mut(job), &outputs)?;
    }
    infra::annotate_service_accounts(&mut tree.objects, &outputs);
    let cluster_name = outputs
        .optional("cluster_name")
        .unwrap_or_else(|| profile.cluster_name());
    let step = ui.step(format!(
        "kubernetes: rendered objects against cluster {cluster_name}"
    ));
    match ClusterAccess::connect(&session.aws, &cluster_name).await {
        Ok(mut access) => {
            let latest = session.releases(&backend).all().await?.pop();
            let mut applier = Applier::new(access.client().await?);
            let found = kubernetes(&mut applier, &tree, latest.as_ref(), &mut report).await?;
            step.done(&found);
        }
        Err(err) => {
            step.fail(&err.to_string());
            return Err(err);
        }
    }

    // CloudWatch: alarms and the dashboard, described against rendered.
    let cw = session.aws.cloudwatch();
    let step = ui.step("cloudwatch: alarms and dashboard");
    let mut count = 0;
    if let Some(json) = &tree.alarms_json {
        let topic = outputs.string("alarm_topic_arn")?;
        let specs = alarms::load(
            json,
            "cloudwatch/alarms.json",
            &profile.alarm_prefix(),
            &topic,
        )?;
        let d = alarms::drift(&cw, &specs, &profile.alarm_prefix(), profile.name.as_str()).await?;
        for (name, fields) in d.changed {
            report.items.push(item(
                "cloudwatch",
                format!("alarm {name}"),
                "changed",
                fields,
            ));
        }
        for name in d.missing {
            report.items.push(item(
                "cloudwatch",
                format!("alarm {name}"),
                "missing",
                vec![],
            ));
        }
        for name in d.extra {
            report.items.push(item(
                "cloudwatch",
                format!("alarm {name}"),
                "extra",
                vec!["tagged with this environment but no longer rendered (the next `up` deletes it)".into()],
            ));
        }
        count += specs.len();
    }
    if let Some(body) = &tree.dashboard_json {
        let name = profile.dashboard_name();
        let wanted: serde_json::Value =
            serde_json::from_str(body).map_err(|e| Error::Rendered {
                what: "cloudwatch/dashboard.json".into(),
                message: e.to_string(),
            })?;
        match dashboard::get(&cw, &name).await? {
            None => report.items.push(item(
                "cloudwatch",
                format!("dashboard {name}"),
                "missing",
                vec![],
            )),
            Some(now) => {
                let now: serde_json::Value = serde_json::from_str(&now).unwrap_or_default();
                let diffs = differences(&wanted, &now);
                let extra_widgets = now["widgets"].as_array().map_or(0, Vec::len)
                    != wanted["widgets"].as_array().map_or(0, Vec::len);
                if !diffs.is_empty() || extra_widgets {
                    let mut details = diffs;
                    if extra_widgets {
                        details.push(format!(
                            "widgets: rendered {}, described {}",
                            wanted["widgets"].as_array().map_or(0, Vec::len),
                            now["widgets"].as_array().map_or(0, Vec::len)
                        ));
                    }
                    report.items.push(item(
                        "cloudwatch",
                        format!("dashboard {name}"),
                        "changed",
                        details,
                    ));
                }
            }
        }
        count += 1;
    }
    step.done(&format!("{count} compared"));

    report.drift = !report.terraform.drift.is_empty() || !report.items.is_empty();
    Ok(report)
}

fn item(layer: &str, object: String, kind: &str, details: Vec<String>) -> DriftItem {
    DriftItem {
        layer: layer.into(),
        object,
        kind: kind.into(),
        details,
    }
}

/// Compares the rendered objects (and the ConfigMaps and Secrets of the latest release,
/// which come from Terraform outputs and Secrets Manager) with the cluster; lists
/// envctl's objects that are no longer rendered.
async fn kubernetes(
    applier: &mut Applier,
    tree: &DeployTree,
    latest: Option<&super::release::Release>,
    report: &mut DriftReport,
) -> Result<String> {
    let mut compared: Vec<RenderedObject> = tree.objects.clone();
    let rendered_keys: BTreeSet<ObjectKey> = compared.iter().map(|o| o.key.clone()).collect();
    match latest {
        Some(release) => {
            for o in &release.objects {
                if !rendered_keys.contains(&o.key) {
                    compared.push(RenderedObject {
                        file: PathBuf::from(format!("release revision {}", release.revision)),
                        key: o.key.clone(),
                        body: o.body.clone(),
                    });
                }
            }
        }
        None => report.notes.push(
            "no release recorded: the ConfigMap and Secrets made from Terraform outputs were not compared".into(),
        ),
    }
    let mut keep: BTreeSet<(String, String, String)> = compared
        .iter()
        .map(|o| {
            (
                o.key.kind.clone(),
                o.key.namespace.clone(),
                o.key.name.clone(),
            )
        })
        .collect();
    for name in [
        infra::INFRA_CONFIG_MAP,
        infra::DATABASE_SECRET,
        infra::DATABASE_ADMIN_SECRET,
    ] {
        let kind = if name == infra::INFRA_CONFIG_MAP {
            "ConfigMap"
        } else {
            "Secret"
        };
        keep.insert((kind.into(), tree.namespace.clone(), name.into()));
    }
    for object in &compared {
        let live = applier.get(&object.key).await?;
        match live {
            None => report.items.push(item("kubernetes", object.key.to_string(), "missing", vec![
                "rendered but not in the cluster (deleted by hand?); the next `up` creates it again".into(),
            ])),
            Some(live) => {
                let mut live = serde_json::to_value(&live).unwrap_or_default();
                // A release records a Secret's values as digests: compare digests.
                if super::release::is_redacted_body(&object.key, &object.body) {
                    super::release::redact(&mut live);
                }
                let mut body = object.body.clone();
                if !object.key.namespace.is_empty() {
                    body["metadata"]["namespace"] = object.key.namespace.clone().into();
                }
                let diffs = differences(&body, &live);
                if !diffs.is_empty() {
                    report.items.push(item("kubernetes", object.key.to_string(), "changed", diffs));
                }
            }
        }
    }
    if let Some(job) = &tree.migration_job {
        keep.insert((
            job.key.kind.clone(),
            job.key.namespace.clone(),
            job.key.name.clone(),
        ));
        match applier.get(&job.key).await? {
            None => report.expected.push(item(
                "kubernetes",
                job.key.to_string(),
                "missing",
                vec!["the migration Job is removed by its TTL after it completes (ttlSecondsAfterFinished)".into()],
            )),
            Some(_) => {
                // A Job is replaced, never patched: `up` runs a new one when its spec
                // changes, so a differing Job is the next migration, not drift.
            }
        }
    }
    let mut extra = 0;
    for key in applier
        .list_labeled(&tree.prune_selector, &prune_kinds(&tree.kinds()))
        .await?
    {
        if !keep.contains(&(key.kind.clone(), key.namespace.clone(), key.name.clone())) {
            extra += 1;
            report.items.push(item(
                "kubernetes",
                key.to_string(),
                "extra",
                vec!["labeled as this environment's but no longer rendered (the next `up` prunes it)".into()],
            ));
        }
    }
    Ok(format!("{} compared, {extra} extra", compared.len()))
}
