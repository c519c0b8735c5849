//! `rollback`: applies an earlier release again — its Deployments and the ConfigMaps and
//! Secrets they read, never its migration Job (migrations only go forward) — under the
//! environment's deploy lock, waits for the rollout and records it as a new revision.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::context::Context;
use crate::kube::rollout::{wait_deployments, DeploymentState};
use crate::kube::{Applier, ClusterAccess, RenderedObject};
use crate::profile::Profile;
use crate::ui::Step;
use crate::{Error, Result};

use super::release::{self, Release, ReleaseOutcome};
use super::{RollbackOptions, Session};

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub environment: String,
    /// The revision that was running.
    pub from: Option<Value>,
    /// The revision applied again.
    pub to: Value,
    /// The new revision recording the rollback.
    pub now: Value,
    pub deployments: Vec<DeploymentState>,
}

impl RollbackReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} is rolled back to revision {} ({}), recorded as revision {}.",
            self.environment,
            self.to["revision"],
            self.to["image_tag"].as_str().unwrap_or_default(),
            self.now["revision"]
        );
        if let Some(from) = &self.from {
            let _ = writeln!(
                out,
                "  was:        revision {} ({})",
                from["revision"],
                from["image_tag"].as_str().unwrap_or_default()
            );
        }
        for d in &self.deployments {
            let _ = writeln!(out, "    {}", d.describe());
        }
        out
    }
}

/// Applies a release's objects (ConfigMaps first) and waits for its Deployments; `step`
/// shows the progress. Secrets are recorded redacted and stay as the cluster has them: a
/// rollback brings back code and settings, not an old credential.
pub(super) async fn apply_release(
    access: &mut ClusterAccess,
    release: &Release,
    timeout: Duration,
    step: &Step,
) -> Result<Vec<DeploymentState>> {
    let mut applier = Applier::new(access.client().await?);
    for object in release
        .objects
        .iter()
        .filter(|o| !super::release::is_redacted(o))
    {
        step.update(&object.key.to_string());
        let rendered = RenderedObject {
            file: PathBuf::from(format!("release revision {}", release.revision)),
            key: object.key.clone(),
            body: object.body.clone(),
        };
        applier.apply(&rendered).await?;
    }
    let namespace = release
        .objects
        .iter()
        .find(|o| o.key.kind == "Deployment")
        .map(|o| o.key.namespace.clone())
        .unwrap_or_default();
    wait_deployments(access, &namespace, &release.deployments(), timeout, step).await
}

pub(super) async fn run(
    ctx: &Context,
    profile: &Profile,
    opts: &RollbackOptions,
) -> Result<RollbackReport> {
    let session = Session::connect(ctx, profile).await?;
    let backend = session
        .existing_backend()
        .await?
        .ok_or_else(|| Error::Release {
            message: format!(
                "{} has no state backend in this account and region: it was never deployed",
                profile.name
            ),
            help: Some(format!("deploy it first with `envctl up {}`", profile.name)),
        })?;
    let (lock, caller) = session.lock(&backend, "rollback").await?;
    let result = roll_back(ctx, profile, opts, &session, &backend, &caller).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

async fn roll_back(
    ctx: &Context,
    profile: &Profile,
    opts: &RollbackOptions,
    session: &Session,
    backend: &crate::aws::StateBackend,
    caller: &str,
) -> Result<RollbackReport> {
    let ui = &ctx.ui;
    let store = session.releases(backend);
    let history = store.all().await?;
    let mut current = history.last().cloned();
    let target = release::rollback_target(&history, current.as_ref(), opts.to)?.clone();
    if target.objects.is_empty() {
        return Err(Error::Release {
            message: format!("revision {} has no objects to apply", target.revision),
            help: None,
        });
    }
    ui.event(
        "rollback_target",
        &format!(
            "rolling back to revision {} ({}, applied {} by {})",
            target.revision,
            target.image_tag,
            target.applied_at.to_rfc3339(),
            target.applied_by
        ),
        json!({ "to": target.summary() }),
    );
    let step = ui.step(format!(
        "connecting to EKS cluster {}",
        profile.cluster_name()
    ));
    let mut access = match ClusterAccess::connect(&session.aws, &profile.cluster_name()).await {
        Ok(access) => access,
        Err(err) => {
            step.fail(&err.to_string());
            return Err(err);
        }
    };
    step.done(&format!("{} ({})", access.info.status, access.api_url));
    let next = current.as_ref().map_or(1, |c| c.revision + 1);
    let mut now = Release {
        revision: next,
        applied_at: chrono::Utc::now(),
        applied_by: caller.to_string(),
        outcome: ReleaseOutcome::RollingOut,
        detail: Some(format!(
            "rollback to revision {}{}",
            target.revision,
            current
                .as_ref()
                .map(|c| format!(" from revision {}", c.revision))
                .unwrap_or_default()
        )),
        rollback_of: Some(target.revision),
        ..target.clone()
    };
    store.put(&now).await?;
    let step = ui.step(format!(
        "rolling back to revision {} ({}): {} objects",
        target.revision,
        target.image_tag,
        target.objects.len()
    ));
    let deployments = match apply_release(&mut access, &target, opts.timeout, &step).await {
        Ok(states) => {
            step.done("every Deployment is updated and available");
            states
        }
        Err(err) => {
            step.fail("not rolled out");
            now.outcome = ReleaseOutcome::Failed;
            now.detail = Some(format!(
                "rollback to revision {} failed: {err}",
                target.revision
            ));
            let _ = store.put(&now).await;
            return Err(err);
        }
    };
    now.outcome = ReleaseOutcome::Succeeded;
    store.put(&now).await?;
    if let Some(c) = &mut current {
        // The release rolled away from is no longer a default rollback target.
        if c.outcome == ReleaseOutcome::Succeeded {
            c.outcome = ReleaseOutcome::RolledBack;
            c.detail = Some(format!(
                "rolled back on demand to revision {} (now revision {}) by {caller}",
                target.revision, now.revision
            ));
            store.put(c).await?;
        }
    }
    store.trim(profile.deploy.keep_releases as usize).await?;
    Ok(RollbackReport {
        environment: profile.name.to_string(),
        from: current.as_ref().map(Release::summary),
        to: target.summary(),
        now: now.summary(),
        deployments,
    })
}
