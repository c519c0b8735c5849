//! Waiting for the migration Job and the Deployments' rollouts, saying what is being
//! waited on and, when something is stuck, why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use serde::Serialize;

use super::apply::kube_error;
use super::cluster::ClusterAccess;
use super::diagnose;
use crate::ui::Step;
use crate::{Error, Result};

const POLL: Duration = Duration::from_millis(1000);
const DIAGNOSE_EVERY: Duration = Duration::from_secs(10);

/// A Deployment's rollout progress.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentState {
    pub name: String,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// Pods of older revisions still running.
    pub old: i32,
    pub complete: bool,
    /// Set when Kubernetes gave up (ProgressDeadlineExceeded).
    pub failed: Option<String>,
}

impl DeploymentState {
    pub fn from_deployment(d: &Deployment) -> DeploymentState {
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.clone().unwrap_or_default();
        let generation = d.metadata.generation.unwrap_or(0);
        let observed = status.observed_generation.unwrap_or(0);
        let updated = status.updated_replicas.unwrap_or(0);
        let total = status.replicas.unwrap_or(0);
        let available = status.available_replicas.unwrap_or(0);
        let failed = status.conditions.iter().flatten().find_map(|c| {
            (c.type_ == "Progressing" && c.status == "False")
                .then(|| c.message.clone().or(c.reason.clone()).unwrap_or_default())
        });
        DeploymentState {
            name: d.metadata.name.clone().unwrap_or_default(),
            desired,
            updated,
            ready: status.ready_replicas.unwrap_or(0),
            available,
            old: (total - updated).max(0),
            complete: observed >= generation
                && updated >= desired
                && available >= desired
                && total <= desired,
            failed,
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}: {}/{} updated, {}/{} available",
            self.name, self.updated, self.desired, self.available, self.desired
        );
        if self.old > 0 {
            s.push_str(&format!(", {} old pod(s) terminating", self.old));
        }
        s
    }
}

/// The states of `names` in `namespace` (missing ones are skipped).
pub async fn deployment_states(
    client: &kube::Client,
    namespace: &str,
    names: &[String],
) -> Result<Vec<DeploymentState>> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let mut states = Vec::new();
    for name in names {
        if let Some(d) = api
            .get_opt(name)
            .await
            .map_err(kube_error(format!("reading deployment {name}")))?
        {
            states.push(DeploymentState::from_deployment(&d));
        }
    }
    Ok(states)
}

/// Waits until every Deployment has rolled out, reporting progress and the reasons
/// pods are not ready; fails early when Kubernetes reports no progress.
pub async fn wait_deployments(
    access: &mut ClusterAccess,
    namespace: &str,
    names: &[String],
    timeout: Duration,
    step: &Step,
) -> Result<Vec<DeploymentState>> {
    let deadline = Instant::now() + timeout;
    let mut last_diagnosis = Instant::now();
    let mut problems: Vec<String> = Vec::new();
    let mut last_summary = String::new();
    loop {
        let client = access.client().await?;
        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let mut states = Vec::new();
        let mut selectors = BTreeMap::new();
        for name in names {
            let d = api
                .get_opt(name)
                .await
                .map_err(kube_error(format!("reading deployment {name}")))?
                .ok_or_else(|| Error::Kubernetes {
                    operation: format!("waiting for deployment {name}"),
                    message: "it does not exist (it was applied a moment ago)".into(),
                    help: None,
                })?;
            let labels = d
                .spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.clone())
                .unwrap_or_default();
            selectors.insert(name.clone(), labels);
            states.push(DeploymentState::from_deployment(&d));
        }
        let pending: Vec<&DeploymentState> = states.iter().filter(|s| !s.complete).collect();
        if pending.is_empty() {
            return Ok(states);
        }
        let stuck = pending.iter().find(|s| s.failed.is_some());
        let diagnose_now = stuck.is_some()
            || Instant::now() >= deadline
            || last_diagnosis.elapsed() >= DIAGNOSE_EVERY;
        if diagnose_now {
            last_diagnosis = Instant::now();
            problems.clear();
            for s in &pending {
                let found = diagnose::pod_problems(&client, namespace, &selectors[&s.name]).await?;
                for p in found {
                    step.update(&format!("{}: {p}", s.name));
                    problems.push(format!("{}: {p}", s.name));
                }
            }
        }
        let summary = pending
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join("; ");
        if let Some(s) = stuck {
            return Err(rollout_error(
                &s.name,
                format!(
                    "Kubernetes reports no progress: {}",
                    s.failed.clone().unwrap_or_default()
                ),
                &summary,
                &problems,
            ));
        }
        if Instant::now() >= deadline {
            return Err(rollout_error(
                &pending[0].name,
                format!("not complete after {}", humantime::format_duration(timeout)),
                &summary,
                &problems,
            ));
        }
        if summary != last_summary {
            step.update(&format!("waiting on {summary}"));
            last_summary = summary;
        }
        tokio::time::sleep(POLL).await;
    }
}

fn rollout_error(name: &str, message: String, summary: &str, problems: &[String]) -> Error {
    let mut help = format!("state: {summary}");
    if problems.is_empty() {
        help.push_str("\nno pod problems reported yet; check `kubectl describe deployment` and the node groups' capacity");
    } else {
        help.push_str("\nwhy:");
        for p in problems {
            help.push_str(&format!("\n  - {p}"));
        }
    }
    help.push_str("\nthe previous ReplicaSet keeps serving (maxUnavailable: 0); see docs/operations.md, \"Rolling back\"");
    Error::Kubernetes {
        operation: format!("rollout of deployment {name}"),
        message,
        help: Some(help),
    }
}

/// Waits for a Job to succeed; on failure, says why with its pods' problems and log tail.
pub async fn wait_job(
    access: &mut ClusterAccess,
    namespace: &str,
    name: &str,
    timeout: Duration,
    step: &Step,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_diagnosis = Instant::now();
    let mut last_summary = String::new();
    loop {
        let client = access.client().await?;
        let api: Api<Job> = Api::namespaced(client.clone(), namespace);
        let job = api
            .get_opt(name)
            .await
            .map_err(kube_error(format!("reading job {name}")))?
            .ok_or_else(|| Error::Kubernetes {
                operation: format!("waiting for job {name}"),
                message: "it does not exist".into(),
                help: None,
            })?;
        let status = job.status.clone().unwrap_or_default();
        let labels = job
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_else(|| BTreeMap::from([("job-name".to_string(), name.to_string())]));
        if status.succeeded.unwrap_or(0) >= 1 {
            return Ok(());
        }
        let failed = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Failed" && c.status == "True");
        if failed.is_some() || Instant::now() >= deadline {
            let message = match failed {
                Some(c) => format!(
                    "failed: {}",
                    c.message
                        .clone()
                        .or(c.reason.clone())
                        .unwrap_or_else(|| "no reason given".into())
                ),
                None => format!("not finished after {}", humantime::format_duration(timeout)),
            };
            let mut help = String::new();
            for p in diagnose::pod_problems(&client, namespace, &labels).await? {
                help.push_str(&format!("\n  - {p}"));
            }
            if let Some(pod) = diagnose::job_pods(&client, namespace, &labels)
                .await?
                .last()
            {
                if let Some(log) = diagnose::log_tail(&client, namespace, pod, 20).await {
                    help.push_str(&format!("\nlast log lines of {pod}:\n{log}"));
                }
            }
            help.push_str("\nthe Deployments were not touched: the running version keeps serving");
            return Err(Error::Kubernetes {
                operation: format!("migration job {name}"),
                message,
                help: Some(help.trim_start().to_string()),
            });
        }
        if last_diagnosis.elapsed() >= DIAGNOSE_EVERY {
            last_diagnosis = Instant::now();
            for p in diagnose::pod_problems(&client, namespace, &labels).await? {
                step.update(&p);
            }
        }
        let summary = format!(
            "waiting on job {name}: {} active, {} failed attempt(s)",
            status.active.unwrap_or(0),
            status.failed.unwrap_or(0)
        );
        if summary != last_summary {
            step.update(&summary);
            last_summary = summary;
        }
        tokio::time::sleep(POLL).await;
    }
}
