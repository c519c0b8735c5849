//! `status`: what exists of an environment and how it is doing. Read-only.

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};

use crate::aws::{alarms, dashboard, state_backend};
use crate::context::Context;
use crate::kube::apply::kube_error;
use crate::kube::cluster::{self, ClusterAccess};
use crate::kube::rollout::deployment_states;
use crate::profile::Profile;
use crate::Result;

use super::{DeployTree, Session, StatusReport};

pub(super) async fn run(ctx: &Context, profile: &Profile) -> Result<StatusReport> {
    let tree = DeployTree::render_in_memory(ctx, profile)?;
    let session = Session::connect(ctx, profile).await?;
    let region = session.aws.region.clone();
    let backend = state_backend::describe(&session.aws.cloudformation())
        .await?
        .and_then(|s| {
            s.stack_status()
                .map(|s| format!("{} {}", state_backend::STACK_NAME, s.as_str()))
        });
    let cluster = cluster::describe(&session.aws, &profile.cluster_name()).await?;
    let mut deployments = Vec::new();
    let mut endpoint_list = Vec::new();
    let mut kubernetes_error = None;
    if cluster.as_ref().is_some_and(|c| c.status == "ACTIVE") {
        let result = async {
            let mut access = ClusterAccess::connect(&session.aws, &profile.cluster_name()).await?;
            let client = access.client().await?;
            let states = deployment_states(&client, &tree.namespace, &tree.deployments).await?;
            let found = endpoints(&client, &tree.namespace, &tree.prune_selector).await?;
            Ok::<_, crate::Error>((states, found))
        }
        .await;
        match result {
            Ok((states, found)) => {
                deployments = states;
                endpoint_list = found;
            }
            Err(err) => kubernetes_error = Some(err.to_string()),
        }
    }
    let cw = session.aws.cloudwatch();
    let alarm_states = alarms::states(&cw, &profile.alarm_prefix(), profile.name.as_str()).await?;
    let dashboard = dashboard::get(&cw, &profile.dashboard_name()).await?.map(|_| {
        format!(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={}",
            profile.dashboard_name()
        )
    });
    Ok(StatusReport {
        environment: profile.name.to_string(),
        region,
        account_id: session.account_id.clone(),
        state_backend: backend,
        cluster,
        deployments,
        kubernetes_error,
        alarms: alarm_states,
        dashboard,
        endpoints: endpoint_list,
    })
}

/// The URLs of the environment's Ingresses (their load balancers' names).
pub(super) async fn endpoints(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<String>> {
    let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(kube_error(format!("listing ingresses in {namespace}")))?;
    let mut urls = Vec::new();
    for ingress in list.items {
        // TLS from spec.tls, or from the load balancer controller's listeners (the api's
        // Ingress names its ACM certificate by annotation and listens on HTTPS 443).
        let https_listener = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("alb.ingress.kubernetes.io/listen-ports"))
            .is_some_and(|ports| ports.contains("\"HTTPS\""));
        let tls = https_listener
            || ingress
                .spec
                .as_ref()
                .and_then(|s| s.tls.as_ref())
                .is_some_and(|t| !t.is_empty());
        let scheme = if tls { "https" } else { "http" };
        let rule_hosts: Vec<String> = ingress
            .spec
            .iter()
            .flat_map(|s| s.rules.iter().flatten())
            .filter_map(|r| r.host.clone())
            .collect();
        let lb_hosts: Vec<String> = ingress
            .status
            .iter()
            .filter_map(|s| s.load_balancer.as_ref())
            .flat_map(|lb| lb.ingress.iter().flatten())
            .filter_map(|i| i.hostname.clone().or(i.ip.clone()))
            .collect();
        // A rule's host is the public name; without one, the load balancer's own name.
        if lb_hosts.is_empty() {
            continue;
        }
        let hosts = if rule_hosts.is_empty() {
            lb_hosts
        } else {
            rule_hosts
        };
        urls.extend(hosts.into_iter().map(|h| format!("{scheme}://{h}")));
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}
