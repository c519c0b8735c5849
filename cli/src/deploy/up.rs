//! `up`: state backend, Terraform, Kubernetes (migration Job first, then rollouts,
//! then pruning), alarms and dashboard, smoke test. Every step is idempotent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::aws::dashboard::DashboardChange;
use crate::aws::image::{self, EcrImage};
use crate::aws::{alarms, dashboard, BackendChange};
use crate::context::Context;
use crate::kube::apply::Outcome;
use crate::kube::objects::RenderedObject;
use crate::kube::preflight;
use crate::kube::rollout::{wait_deployments, wait_job};
use crate::kube::{Applier, ApplyReport, ClusterAccess};
use crate::profile::Profile;
use crate::terraform::Terraform;
use crate::{Error, Result};

use super::status::endpoints;
use super::{infra, safety, DeployTree, ImageContractCheck, Session, UpOptions, UpReport};

/// Annotation on the migration Job: the hash of its rendered spec. A Job is immutable,
/// so a different hash means "delete and run the new one"; the same hash and a
/// completed Job mean the migrations already ran.
const JOB_HASH_ANNOTATION: &str = "envctl.io/spec-sha256";

pub(super) async fn run(ctx: &Context, profile: &Profile, opts: &UpOptions) -> Result<UpReport> {
    let ui = &ctx.ui;
    let terraform = Terraform::discover(opts.terraform.as_deref())?;
    let mut tree = DeployTree::render_to_disk(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    if opts.image_contract != ImageContractCheck::Off {
        check_image_contract(ui, &session, profile, opts.image_contract).await?;
    }
    let backend = session.ensure_backend().await?;

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
    let cw = session.aws.cloudwatch();
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
    let endpoints = endpoints(&client, &tree.namespace, &tree.prune_selector).await?;
    for endpoint in &endpoints {
        smoke_test(ui, endpoint, &tree.namespace, opts.timeout).await?;
    }
    let changed = backend.change != BackendChange::Unchanged
        || applied
        || report.changed()
        || migration == "ran"
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
        changed,
    })
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

/// GET /readyz on an endpoint until it answers 2xx, for up to `timeout` (at most 5
/// minutes: a new load balancer's DNS name can take that long to resolve). No ready
/// answer fails `up`: the release is rolled out but does not serve.
async fn smoke_test(
    ui: &crate::ui::Ui,
    endpoint: &str,
    namespace: &str,
    timeout: Duration,
) -> Result<()> {
    let url = format!("{}/readyz", endpoint.trim_end_matches('/'));
    let step = ui.step(format!("smoke test {url}"));
    let failed = |message: String| {
        Error::SmokeTest {
        url: url.clone(),
        message,
        help: Some(format!(
            "the new release is rolled out but does not answer through the load balancer. \
             Look at `envctl status ENV` and the api's logs (`kubectl -n {namespace} logs deploy/api`); \
             to go back, re-run `envctl up ENV --image-tag PREVIOUS_TAG` or \
             `kubectl -n {namespace} rollout undo deployment/api deployment/worker`"
        )),
    }
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| failed(format!("no HTTP client: {e}")))?;
    let wait = timeout.min(Duration::from_secs(5 * 60));
    let deadline = Instant::now() + wait;
    loop {
        let last = match client.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => {
                step.done(&format!("{}", resp.status()));
                return Ok(());
            }
            Ok(resp) => resp.status().to_string(),
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            let message = format!(
                "no ready answer within {} (last: {last})",
                humantime::format_duration(wait)
            );
            step.fail(&message);
            return Err(failed(message));
        }
        step.update(&format!("waiting for {url}: {last}"));
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
