//! `up`: state backend, Terraform, Kubernetes (migration Job first, then rollouts,
//! then pruning), alarms and dashboard, smoke test. Every step is idempotent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::aws::dashboard::DashboardChange;
use crate::aws::image::{self, EcrImage};
use crate::aws::{alarms, dashboard, BackendChange, StateBackend};
use crate::context::Context;
use crate::kube::apply::Outcome;
use crate::kube::objects::RenderedObject;
use crate::kube::preflight;
use crate::kube::rollout::{wait_deployments, wait_job};
use crate::kube::{Applier, ApplyReport, ClusterAccess};
use crate::profile::Profile;
use crate::terraform::Terraform;
use crate::{Error, Result};

use super::bake::{self, Fired, RollbackAlarms};
use super::release::{self, Release, ReleaseOutcome, ReleaseStore};
use super::smoke;
use super::status::endpoints_of;
use super::{
    infra, rollback, safety, DeployTree, ImageContractCheck, Session, UpOptions, UpReport,
    WatchOptions,
};

/// Annotation on the migration Job: the hash of its rendered spec. A Job is immutable,
/// so a different hash means "delete and run the new one"; the same hash and a
/// completed Job mean the migrations already ran.
const JOB_HASH_ANNOTATION: &str = "envctl.io/spec-sha256";

pub(super) async fn run(
    ctx: &Context,
    profile: &Profile,
    opts: &UpOptions,
    watch: &WatchOptions,
) -> Result<UpReport> {
    let ui = &ctx.ui;
    let terraform = Terraform::discover(opts.terraform.as_deref())?;
    let mut tree = DeployTree::render_to_disk(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    if opts.image_contract != ImageContractCheck::Off {
        check_image_contract(ui, &session, profile, opts.image_contract).await?;
    }
    let backend = session.ensure_backend().await?;
    // One lock per environment from here to the end of the bake: another `up` or a
    // `rollback` never interleaves with this one.
    let (lock, caller) = session.lock(&backend, "up").await?;
    let result = deploy(
        ctx, profile, opts, watch, terraform, &mut tree, &session, backend, &caller,
    )
    .await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn deploy(
    ctx: &Context,
    profile: &Profile,
    opts: &UpOptions,
    watch: &WatchOptions,
    terraform: Terraform,
    tree: &mut DeployTree,
    session: &Session,
    backend: StateBackend,
    caller: &str,
) -> Result<UpReport> {
    let ui = &ctx.ui;
    let cw = session.aws.cloudwatch();
    let store = session.releases(&backend);

    // Rollback alarms already in ALARM are reported before anything is applied: the bake
    // would otherwise blame the new release for them.
    let rollback = match &tree.alarms_json {
        Some(json) => bake::rollback_alarms(&alarms::load(
            json,
            "cloudwatch/alarms.json",
            &profile.alarm_prefix(),
            "",
        )?),
        None => bake::RollbackAlarms::default(),
    };
    let (bake_time, bake_note) = bake::bake_time(profile.deploy.bake, &rollback);
    let already_firing = if bake_time.is_zero() || rollback.names.is_empty() {
        BTreeSet::new()
    } else {
        precheck_alarms(ui, &cw, &rollback, profile, watch).await?
    };
    let history = store.all().await?;

    // Terraform: plan to a file, show it, confirm, apply exactly that file.
    let workspace = session.workspace(terraform, tree.terraform_dir()?);
    workspace.init(&backend.backend_config()).await?;
    let plan = workspace.plan(false).await?;
    let applied = plan.has_changes();
    if applied {
        ui.event("plan", &plan.to_text(), json!({ "summary": plan }));
        safety::confirm_apply(ui, profile, &plan, opts.force_protected.as_deref())?;
        workspace.apply().await?;
    }
    let outputs = workspace.outputs().await?;

    // Kubernetes.
    let cluster_name = outputs
        .optional("cluster_name")
        .unwrap_or_else(|| profile.cluster_name());
    let step = ui.step(format!("connecting to EKS cluster {cluster_name}"));
    let mut access = match ClusterAccess::connect(&session.aws, &cluster_name).await {
        Ok(access) => access,
        Err(err) => {
            step.fail(&err.to_string());
            return Err(err);
        }
    };
    step.done(&format!("{} ({})", access.info.status, access.api_url));
    let infra_objects = infra::objects(&session.aws, profile, &outputs).await?;
    infra::substitute_outputs(&mut tree.objects, &outputs)?;
    if let Some(job) = &mut tree.migration_job {
        infra::substitute_outputs(std::slice::from_mut(job), &outputs)?;
    }
    infra::annotate_service_accounts(&mut tree.objects, &outputs);
    release::stamp_config_digest(&mut tree.objects, &infra_objects);

    // Preflight: nothing is applied to a cluster that cannot run it.
    let step = ui.step("preflight: the cluster serves every kind and its add-ons are ready");
    let controllers = preflight::parse_controllers(outputs.value("cluster_controllers")?)?;
    let rendered: Vec<&RenderedObject> = tree
        .objects
        .iter()
        .chain(tree.migration_job.iter())
        .chain(infra_objects.iter())
        .collect();
    match preflight::check(&access.client().await?, &rendered, &controllers).await {
        Ok(checked) => step.done(&format!(
            "{} kinds served, {} add-ons ready",
            checked.kinds, checked.controllers
        )),
        Err(err) => {
            step.fail("the cluster is not ready for these manifests");
            return Err(err);
        }
    }

    let mut report = ApplyReport::default();
    let (deployments, others): (Vec<&RenderedObject>, Vec<&RenderedObject>) = tree
        .objects
        .iter()
        .partition(|o| o.key.kind == "Deployment");
    let step = ui.step(format!(
        "applying {} Kubernetes objects",
        others.len() + infra_objects.len()
    ));
    let mut applier = Applier::new(access.client().await?);
    for object in others.iter().copied().chain(infra_objects.iter()) {
        step.update(&object.key.to_string());
        let outcome = applier.apply(object).await?;
        report.record(&object.key, outcome);
    }
    step.done(&format!(
        "{} created, {} configured",
        report.created.len(),
        report.configured.len()
    ));

    let migration = match &tree.migration_job {
        Some(job) => {
            run_migration(
                &mut access,
                &mut applier,
                job,
                opts.timeout,
                ui,
                &mut report,
            )
            .await?
        }
        None => "none rendered".to_string(),
    };

    // The release: the Deployments and what they read, recorded before they are applied
    // so that history shows a release that never finished rolling out.
    let release_objects = {
        let all: Vec<&RenderedObject> = tree.objects.iter().chain(infra_objects.iter()).collect();
        release::release_objects(&all)
    };
    let digest = release::digest(&release_objects);
    let latest = history.last();
    let mut new_release = match latest {
        Some(l) if l.digest == digest && l.outcome == ReleaseOutcome::Succeeded => None,
        _ => Some(Release {
            revision: latest.map_or(1, |l| l.revision + 1),
            environment: profile.name.to_string(),
            image: release_objects
                .iter()
                .find(|o| o.key.kind == "Deployment")
                .and_then(|o| o.body["spec"]["template"]["spec"]["containers"][0]["image"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| crate::render::image_ref(profile)),
            image_tag: profile.runtime.image.tag.to_string(),
            commit: release::current_commit(&ctx.root),
            applied_at: chrono::Utc::now(),
            applied_by: caller.to_string(),
            outcome: ReleaseOutcome::RollingOut,
            detail: None,
            rollback_of: None,
            digest,
            objects: release_objects,
        }),
    };
    if let Some(r) = &new_release {
        store.put(r).await?;
        ui.event(
            "release",
            &format!("release: revision {} ({})", r.revision, r.image_tag),
            json!({ "release": r.summary() }),
        );
    }

    let rolled: Result<_> = async {
        let step = ui.step(format!("applying {} Deployments", deployments.len()));
        for object in &deployments {
            let outcome = applier.apply(object).await?;
            report.record(&object.key, outcome);
        }
        step.done("applied");
        let step = ui.step(format!(
            "waiting for the rollout of {}",
            tree.deployments.join(", ")
        ));
        let states = match wait_deployments(
            &mut access,
            &tree.namespace,
            &tree.deployments,
            opts.timeout,
            &step,
        )
        .await
        {
            Ok(states) => {
                step.done("every Deployment is updated and available");
                states
            }
            Err(err) => {
                step.fail("not progressing");
                return Err(err);
            }
        };

        // Prune only after the new version serves: nothing it still needs disappears early.
        let step = ui.step(format!(
            "pruning objects labeled {} that are no longer rendered",
            tree.prune_selector
        ));
        let mut applier = Applier::new(access.client().await?);
        let mut keep: BTreeSet<_> = tree.keys().into_iter().collect();
        keep.extend(infra_objects.iter().map(|o| o.key.clone()));
        let pruned = applier
            .prune(&tree.prune_selector, &keep, &tree.kinds())
            .await?;
        report.pruned = pruned.iter().map(|k| k.to_string()).collect();
        step.done(&if pruned.is_empty() {
            "nothing to prune".to_string()
        } else {
            report.pruned.join(", ")
        });

        // Alarms and dashboard.
        let step = ui.step("CloudWatch alarms and dashboard");
        let alarm_sync = match &tree.alarms_json {
            Some(json) => {
                let topic = outputs.string("alarm_topic_arn")?;
                let specs = alarms::load(
                    json,
                    "cloudwatch/alarms.json",
                    &profile.alarm_prefix(),
                    &topic,
                )?;
                alarms::sync(
                    &cw,
                    &specs,
                    &profile.alarm_prefix(),
                    profile.name.as_str(),
                    &profile.all_tags(),
                )
                .await?
            }
            None => alarms::AlarmSync::default(),
        };
        let dashboard_change = match &tree.dashboard_json {
            Some(body) => dashboard::put(&cw, &profile.dashboard_name(), body).await?,
            None => DashboardChange::Unchanged,
        };
        step.done(&format!(
            "{} created, {} updated, {} deleted; dashboard {:?}",
            alarm_sync.created.len(),
            alarm_sync.updated.len(),
            alarm_sync.deleted.len(),
            dashboard_change
        ));

        let client = access.client().await?;
        let probes = smoke::probes(&client, &tree.namespace, &tree.prune_selector).await?;
        let endpoints = endpoints_of(&probes);
        for probe in &probes {
            smoke_test(ui, probe, &mut access, &tree.namespace, opts.timeout).await?;
        }
        Ok((states, alarm_sync, dashboard_change, endpoints, probes))
    }
    .await;
    let (states, alarm_sync, dashboard_change, endpoints, probes) = match rolled {
        Ok(done) => done,
        Err(err) => {
            if let Some(r) = &mut new_release {
                mark(&store, r, ReleaseOutcome::Failed, err.to_string()).await;
            }
            return Err(err);
        }
    };

    // The bake: a new release is watched before it counts as good.
    let mut baked_seconds = 0;
    if let Some(r) = &mut new_release {
        if !bake_time.is_zero() {
            if let Some(note) = &bake_note {
                ui.event(
                    "bake_lengthened",
                    note,
                    json!({ "seconds": bake_time.as_secs() }),
                );
            }
            r.outcome = ReleaseOutcome::Baking;
            store.put(r).await?;
            let step = ui.step(format!(
                "baking revision {} for {}: rollback alarms {}{}",
                r.revision,
                humantime::format_duration(bake_time),
                if rollback.names.is_empty() {
                    "(none rendered)".to_string()
                } else {
                    rollback.names.join(", ")
                },
                if probes.is_empty() {
                    ""
                } else {
                    " and the smoke test"
                }
            ));
            match bake::watch(
                &cw,
                &rollback,
                bake_time,
                &probes,
                &mut access,
                &already_firing,
                &step,
            )
            .await
            {
                Ok(None) => step.done("nothing fired"),
                Ok(Some(fired)) => {
                    step.fail(&format!("{} fired: {}", fired.what, fired.reason));
                    return Err(roll_back_after_bake(
                        ui,
                        &mut access,
                        &store,
                        &history,
                        r,
                        &fired,
                        caller,
                        opts.timeout,
                    )
                    .await);
                }
                Err(err) => {
                    step.fail("the bake could not watch the release");
                    mark(
                        &store,
                        r,
                        ReleaseOutcome::Failed,
                        format!("bake interrupted: {err}"),
                    )
                    .await;
                    return Err(err);
                }
            }
            baked_seconds = bake_time.as_secs();
        }
        r.outcome = ReleaseOutcome::Succeeded;
        store.put(r).await?;
        let trimmed = store.trim(profile.deploy.keep_releases as usize).await?;
        if !trimmed.is_empty() {
            tracing::info!("dropped releases {trimmed:?} beyond deploy.keep_releases");
        }
    }

    let changed = backend.change != BackendChange::Unchanged
        || applied
        || report.changed()
        || migration == "ran"
        || new_release.is_some()
        || alarm_sync.changed()
        || dashboard_change != DashboardChange::Unchanged;
    Ok(UpReport {
        environment: profile.name.to_string(),
        backend: backend.change,
        plan,
        applied,
        kubernetes: report,
        migration,
        deployments: states,
        alarms: alarm_sync,
        dashboard: dashboard_change,
        endpoints,
        release: new_release.as_ref().map(Release::summary),
        baked_seconds,
        changed,
    })
}

/// Records what became of a release; a failure to record is logged, not raised (the
/// deploy's own error is the one to report).
async fn mark(
    store: &ReleaseStore,
    release: &mut Release,
    outcome: ReleaseOutcome,
    detail: String,
) {
    release.outcome = outcome;
    release.detail = Some(detail);
    if let Err(err) = store.put(release).await {
        tracing::warn!("could not record revision {}: {err}", release.revision);
    }
}

/// Refuses to roll out while a rollback alarm is in ALARM (the bake would blame the new
/// release), unless `--ignore-firing-alarms`; returns the alarms deployed through.
async fn precheck_alarms(
    ui: &crate::ui::Ui,
    cw: &aws_sdk_cloudwatch::Client,
    rollback: &RollbackAlarms,
    profile: &Profile,
    watch: &WatchOptions,
) -> Result<BTreeSet<String>> {
    let step = ui.step(format!(
        "rollback alarms before the rollout ({})",
        rollback.names.join(", ")
    ));
    let firing = bake::firing(cw, &rollback.names).await?;
    if firing.is_empty() {
        step.done("none in ALARM");
        return Ok(BTreeSet::new());
    }
    let described: Vec<String> = firing
        .iter()
        .map(|f| {
            format!(
                "{} (since {}: {})",
                f.name,
                f.since.as_deref().unwrap_or("unknown"),
                f.reason
            )
        })
        .collect();
    if watch.ignore_firing_alarms {
        step.done(&format!(
            "{} in ALARM, deploying through (--ignore-firing-alarms); the bake watches each again once it leaves ALARM: {}",
            firing.len(),
            described.join("; ")
        ));
        return Ok(firing.into_iter().map(|f| f.name).collect());
    }
    step.fail(&format!("{} in ALARM", firing.len()));
    Err(Error::Refused {
        message: format!(
            "rollback alarm {} already in ALARM before the rollout; nothing was applied",
            described.join("; ")
        ),
        help: Some(format!(
            "the bake would roll the new release back for it. Find out why first \
             (`envctl status {env}`, the dashboard {dashboard}); to deploy the fix for it, re-run \
             with --ignore-firing-alarms (the bake then watches that alarm again once it leaves ALARM)",
            env = profile.name,
            dashboard = profile.dashboard_name()
        )),
    })
}

/// After a rollback alarm (or the smoke test) fired during the bake: applies the previous
/// good release again, records both, and returns the error `up` exits with.
#[allow(clippy::too_many_arguments)]
async fn roll_back_after_bake(
    ui: &crate::ui::Ui,
    access: &mut ClusterAccess,
    store: &ReleaseStore,
    history: &[Release],
    failed: &mut Release,
    fired: &Fired,
    caller: &str,
    timeout: Duration,
) -> Error {
    let at = fired.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ui.event(
        "bake_fired",
        &format!(
            "{} fired at {at} during the bake of revision {}",
            fired.what, failed.revision
        ),
        json!({ "fired": fired, "revision": failed.revision }),
    );
    let what = format!(
        "{} fired at {at} during the bake of revision {} ({}): {}",
        fired.what, failed.revision, failed.image_tag, fired.reason
    );
    let target = match release::rollback_target(history, Some(failed), None) {
        Ok(target) => target.clone(),
        Err(_) => {
            let none = "no earlier release of this environment succeeded";
            mark(
                store,
                failed,
                ReleaseOutcome::Failed,
                format!("{what}; {none}"),
            )
            .await;
            return Error::Bake {
                message: format!("{what}; nothing was rolled back: {none}"),
                help: Some(
                    "the release stays deployed. Find why it fired (`envctl status ENV`, the api's logs), \
                     then deploy a fix or a known-good image with `envctl up ENV --image-tag TAG`"
                        .into(),
                ),
            };
        }
    };
    let step = ui.step(format!(
        "rolling back to revision {} ({})",
        target.revision, target.image_tag
    ));
    if let Err(err) = rollback::apply_release(access, &target, timeout, &step).await {
        step.fail("the rollback did not complete");
        mark(
            store,
            failed,
            ReleaseOutcome::Failed,
            format!(
                "{what}; the rollback to revision {} failed: {err}",
                target.revision
            ),
        )
        .await;
        return Error::Bake {
            message: format!(
                "{what}; the rollback to revision {} failed too: {err}",
                target.revision
            ),
            help: Some(format!(
                "retry it with `envctl rollback {} --to {}`, and look at `envctl status {}`",
                failed.environment, target.revision, failed.environment
            )),
        };
    }
    step.done("rolled out");
    let now = release::Release {
        revision: failed.revision + 1,
        applied_at: chrono::Utc::now(),
        applied_by: caller.to_string(),
        outcome: ReleaseOutcome::Succeeded,
        detail: Some(format!(
            "automatic rollback: {} fired during the bake of revision {}",
            fired.what, failed.revision
        )),
        rollback_of: Some(target.revision),
        ..target.clone()
    };
    let recorded = store.put(&now).await;
    mark(
        store,
        failed,
        ReleaseOutcome::RolledBack,
        format!(
            "{what}; rolled back to revision {} (now revision {})",
            target.revision, now.revision
        ),
    )
    .await;
    if let Err(err) = recorded {
        tracing::warn!("could not record the rollback: {err}");
    }
    ui.event(
        "rolled_back",
        &format!(
            "rolled back to revision {} ({}) as revision {}",
            target.revision, target.image_tag, now.revision
        ),
        json!({ "failed": failed.revision, "to": target.revision, "now": now.revision }),
    );
    Error::Bake {
        message: format!(
            "{what}; rolled back to revision {} (image {}), now running as revision {}",
            target.revision, target.image_tag, now.revision
        ),
        help: Some(format!(
            "revision {} is marked rolled back in `envctl history {env}`. Find why it fired \
             (`envctl status {env}`, the dashboard, the api's logs), fix it, and deploy again. \
             The database keeps the newer migrations: the older runtime runs against them \
             (docs/operations.md, \"Migrations go forward only\")",
            failed.revision,
            env = failed.environment
        )),
    }
}

/// Runs the migration Job unless this exact Job already completed; waits for it.
async fn run_migration(
    access: &mut ClusterAccess,
    applier: &mut Applier,
    job: &RenderedObject,
    timeout: Duration,
    ui: &crate::ui::Ui,
    report: &mut ApplyReport,
) -> Result<String> {
    let mut job = job.clone();
    let hash = hex::encode(Sha256::digest(job.body.to_string().as_bytes()));
    if job.body["metadata"]["annotations"].is_null() {
        job.body["metadata"]["annotations"] = json!({});
    }
    job.body["metadata"]["annotations"][JOB_HASH_ANNOTATION] = hash.clone().into();
    let step = ui.step(format!("migration job {}", job.key.name));
    if let Some(live) = applier.get(&job.key).await? {
        let same = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(JOB_HASH_ANNOTATION))
            == Some(&hash);
        let succeeded = live.data["status"]["succeeded"].as_i64().unwrap_or(0) >= 1;
        if same && succeeded {
            report.record(&job.key, Outcome::Unchanged);
            step.done("already ran for this version");
            return Ok("up to date".into());
        }
        if !same || job_failed(&live.data) {
            // Jobs are immutable: replace the old one (its pods go with it).
            step.update("replacing the previous job");
            applier.delete(&job.key).await?;
            let deadline = Instant::now() + Duration::from_secs(120);
            while applier.get(&job.key).await?.is_some() {
                if Instant::now() > deadline {
                    step.fail("the previous job is not going away");
                    return Err(Error::Kubernetes {
                        operation: format!("replacing job {}", job.key.name),
                        message: "the previous Job was still there after 2 minutes".into(),
                        help: Some("check its finalizers, delete it, and re-run".into()),
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let outcome = applier.apply(&job).await?;
    report.record(&job.key, outcome);
    match wait_job(access, &job.key.namespace, &job.key.name, timeout, &step).await {
        Ok(()) => {
            step.done("completed");
            Ok("ran".into())
        }
        Err(err) => {
            step.fail("failed");
            Err(err)
        }
    }
}

fn job_failed(data: &serde_json::Value) -> bool {
    data["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Failed" && c["status"] == "True")
    })
}

/// The probe until it answers 2xx, for up to `timeout` (at most 5 minutes: a new load
/// balancer's name takes a minute or two to resolve).
async fn smoke_test(
    ui: &crate::ui::Ui,
    probe: &smoke::Probe,
    access: &mut ClusterAccess,
    namespace: &str,
    timeout: Duration,
) -> Result<()> {
    let step = ui.step(format!("smoke test {}", probe.describe()));
    let failed = |message: String| {
        Error::SmokeTest {
        url: probe.url.clone(),
        message,
        help: Some(format!(
            "the new release is rolled out but does not answer through the load balancer. \
             Look at `envctl status ENV` and the api's logs (`kubectl -n {namespace} logs deploy/api`); \
             to go back, re-run `envctl up ENV --image-tag PREVIOUS_TAG` or \
             `kubectl -n {namespace} rollout undo deployment/api deployment/worker`"
        )),
    }
    };
    let wait = timeout.min(Duration::from_secs(5 * 60));
    let deadline = Instant::now() + wait;
    loop {
        let last = match probe.check(&access.client().await?).await {
            Ok(status) => {
                step.done(&status);
                return Ok(());
            }
            Err(problem) => problem,
        };
        if Instant::now() >= deadline {
            let message = format!(
                "no ready answer within {} (last: {last})",
                humantime::format_duration(wait)
            );
            step.fail(&message);
            return Err(failed(message));
        }
        step.update(&format!("waiting for {}: {last}", probe.url));
        tokio::time::sleep(
            Duration::from_secs(1)
                .min(wait / 4)
                .max(Duration::from_millis(200)),
        )
        .await;
    }
}

/// Refuses an image built from another contract than this envctl's, before the state
/// backend, Terraform or the cluster are touched.
async fn check_image_contract(
    ui: &crate::ui::Ui,
    session: &Session,
    profile: &Profile,
    check: ImageContractCheck,
) -> Result<()> {
    let Some(image) = EcrImage::of(profile) else {
        let image = crate::render::image_ref(profile);
        ui.event(
            "image_contract_unchecked",
            &format!("runtime.image.repository names another registry: the contract version of {image} is not checked"),
            json!({ "image": image }),
        );
        return Ok(());
    };
    let skip = (check == ImageContractCheck::Skippable).then(|| {
        format!(
            "envctl up {} --image-tag {} --skip-contract-check",
            profile.name, image.reference
        )
    });
    let step = ui.step(format!("checking the contract version of {image}"));
    match image::check_contract(&session.aws, &image, skip.as_deref()).await {
        Ok(version) => {
            step.done(&format!("contract version {version}, as this envctl's"));
            Ok(())
        }
        Err(err) => {
            step.fail("refused");
            Err(err)
        }
    }
}
