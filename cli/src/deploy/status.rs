//! `status`: what exists of an environment and how it is doing. Read-only.

use crate::aws::{alarms, dashboard, state_backend};
use crate::context::Context;
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

/// The URLs of the environment's Ingresses: their public names, or their load
/// balancers' names (the smoke test's probes, [`super::smoke::probes`]).
pub(super) async fn endpoints(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<String>> {
    let probes = super::smoke::probes(client, namespace, selector).await?;
    Ok(endpoints_of(&probes))
}

/// The distinct endpoints of `probes`, sorted.
pub(super) fn endpoints_of(probes: &[super::smoke::Probe]) -> Vec<String> {
    let mut urls: Vec<String> = probes.iter().map(|p| p.endpoint.clone()).collect();
    urls.sort();
    urls.dedup();
    urls
}
