//! Why pods are not becoming ready: scheduling failures, containers waiting
//! (CrashLoopBackOff, ImagePullBackOff...), and recent Warning events such as failing
//! readiness or liveness probes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};

use super::apply::kube_error;
use crate::Result;

/// One line per problem found in the pods matching `labels`, most telling first.
pub async fn pod_problems(
    client: &kube::Client,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_error(format!(
            "listing pods {selector} in {namespace}"
        )))?;
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for pod in &list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        if is_ready(pod) {
            continue;
        }
        for cond in status.conditions.iter().flatten() {
            if cond.type_ == "PodScheduled" && cond.status == "False" {
                push(
                    &mut problems,
                    &mut seen,
                    format!(
                        "pod {name} cannot be scheduled: {}",
                        cond.message
                            .clone()
                            .or(cond.reason.clone())
                            .unwrap_or_default()
                    ),
                );
            }
        }
        for cs in status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
        {
            if let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = waiting.reason.clone().unwrap_or_default();
                if reason != "ContainerCreating" && reason != "PodInitializing" {
                    let mut line = format!("pod {name} container {}: {reason}", cs.name);
                    if let Some(message) = &waiting.message {
                        line.push_str(&format!(": {message}"));
                    }
                    if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                        line.push_str(&format!(
                            " (last exit code {}{}; restarted {} times)",
                            t.exit_code,
                            t.reason
                                .as_ref()
                                .map(|r| format!(", {r}"))
                                .unwrap_or_default(),
                            cs.restart_count
                        ));
                    }
                    push(&mut problems, &mut seen, line);
                }
            }
        }
        for event in warning_events(client, namespace, &name).await? {
            push(&mut problems, &mut seen, format!("pod {name}: {event}"));
        }
    }
    Ok(problems)
}

/// The last lines of a pod's log (for failed Jobs).
pub async fn log_tail(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    lines: i64,
) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        tail_lines: Some(lines),
        ..LogParams::default()
    };
    pods.logs(pod, &params).await.ok()
}

/// Pods of a Job (by its selector), newest last.
pub async fn job_pods(
    client: &kube::Client,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_error(format!(
            "listing pods {selector} in {namespace}"
        )))?
        .items;
    list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(list.into_iter().filter_map(|p| p.metadata.name).collect())
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn warning_events(client: &kube::Client, namespace: &str, pod: &str) -> Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let fields = format!("involvedObject.kind=Pod,involvedObject.name={pod}");
    let list = events
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(kube_error(format!("listing events of pod {pod}")))?;
    let mut items: Vec<&Event> = list
        .items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    items.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    Ok(items
        .iter()
        .rev()
        .take(3)
        .map(|e| {
            let count = e
                .count
                .filter(|c| *c > 1)
                .map(|c| format!(" (x{c})"))
                .unwrap_or_default();
            format!(
                "{}: {}{count}",
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default().trim()
            )
        })
        .collect())
}

fn push(problems: &mut Vec<String>, seen: &mut BTreeSet<String>, line: String) {
    if seen.insert(line.clone()) {
        problems.push(line);
    }
}
