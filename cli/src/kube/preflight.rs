//! Before `up` applies anything: the cluster serves every kind the manifests use, the
//! IngressClasses they name exist, and each add-on the rendered Terraform installs
//! (its `cluster_controllers` output) has its APIServices Available and its
//! Deployments ready. A failure names the add-on, so nothing is half-applied against a
//! cluster that cannot run it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::IngressClass;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;

use super::apply::{discover, kube_error};
use super::objects::RenderedObject;
use crate::{Error, Result};

/// One add-on as the Terraform output `cluster_controllers` describes it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Controller {
    /// `namespace/name` of each Deployment that must be ready.
    pub deployments: Vec<String>,
    /// APIServices (e.g. `v1beta1.metrics.k8s.io`) that must be Available.
    pub api_services: Vec<String>,
    /// API groups whose kinds this add-on serves (its CRDs).
    pub api_groups: Vec<String>,
    /// IngressClasses it creates.
    pub ingress_classes: Vec<String>,
    /// The Terraform resource that installs it (for the error message).
    pub installed_by: String,
}

/// The add-ons by name.
pub type Controllers = BTreeMap<String, Controller>;

/// Parses the `cluster_controllers` output's value.
pub fn parse_controllers(value: &serde_json::Value) -> Result<Controllers> {
    serde_json::from_value(value.clone()).map_err(|e| Error::Terraform {
        step: "output".into(),
        message: format!("the `cluster_controllers` output is not what envctl expects: {e}"),
        help: Some("re-render with this envctl (`envctl render ENV`) and re-run".into()),
    })
}

/// What the preflight checked, for the report.
#[derive(Debug, Default)]
pub struct Preflight {
    pub kinds: usize,
    pub controllers: usize,
}

/// Runs every check; the first failure is returned, naming the add-on to fix.
pub async fn check(
    client: &kube::Client,
    objects: &[&RenderedObject],
    controllers: &Controllers,
) -> Result<Preflight> {
    let missing = |what: String, group_hint: &dyn Fn(&Controller) -> bool| {
        let owner = controllers.iter().find(|(_, c)| group_hint(c));
        let message = match owner {
            Some((name, c)) => format!(
                "{what}: the {name} add-on ({}) is not installed or not running",
                c.installed_by
            ),
            None => format!("{what}, and no add-on of the rendered Terraform provides it"),
        };
        Error::Kubernetes {
            operation: "preflight".into(),
            message,
            help: Some(
                "the cluster add-ons are part of the rendered Terraform (terraform/modules/addons): \
                 check `terraform apply` finished, then `kubectl get deploy -A` for the add-on's pods"
                    .into(),
            ),
        }
    };

    // 1. Every kind the manifests use is served.
    let kinds: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| (o.key.api_version.clone(), o.key.kind.clone()))
        .collect();
    for (api_version, kind) in &kinds {
        if discover(client, api_version, kind).await?.is_none() {
            let group = api_version.split_once('/').map_or("", |(g, _)| g);
            return Err(missing(
                format!("the cluster does not serve {api_version} {kind}"),
                &|c| c.api_groups.iter().any(|g| g == group),
            ));
        }
    }

    // 2. The IngressClasses the Ingresses name exist.
    let classes: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.key.kind == "Ingress")
        .filter_map(|o| o.body["spec"]["ingressClassName"].as_str())
        .map(str::to_string)
        .collect();
    let ingress_classes: Api<IngressClass> = Api::all(client.clone());
    for class in &classes {
        let found = ingress_classes
            .get_opt(class)
            .await
            .map_err(kube_error(format!("reading IngressClass {class}")))?;
        if found.is_none() {
            return Err(missing(
                format!("IngressClass `{class}` does not exist"),
                &|c| c.ingress_classes.iter().any(|n| n == class),
            ));
        }
    }

    // 3. Each add-on: its APIServices Available, its Deployments ready.
    let api_services: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
        )),
    );
    for (name, controller) in controllers {
        let this = |c: &Controller| c == controller;
        for service in &controller.api_services {
            let found = api_services
                .get_opt(service)
                .await
                .map_err(kube_error(format!("reading APIService {service}")))?;
            let available = found.as_ref().is_some_and(|s| {
                s.data["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Available" && c["status"] == "True")
                })
            });
            if !available {
                let state = if found.is_some() {
                    "not Available"
                } else {
                    "missing"
                };
                return Err(missing(format!("APIService {service} is {state}"), &this));
            }
        }
        for deployment in &controller.deployments {
            let (namespace, deployment_name) =
                deployment.split_once('/').ok_or_else(|| Error::Terraform {
                    step: "output".into(),
                    message: format!(
                        "cluster_controllers.{name}: `{deployment}` is not namespace/name"
                    ),
                    help: None,
                })?;
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            let found = api
                .get_opt(deployment_name)
                .await
                .map_err(kube_error(format!("reading deployment {deployment}")))?;
            let ready = found.as_ref().is_some_and(|d| {
                let status = d.status.as_ref();
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
                available >= want.max(1)
            });
            if !ready {
                let state = if found.is_some() {
                    "not ready"
                } else {
                    "missing"
                };
                return Err(missing(
                    format!("deployment {deployment} is {state}"),
                    &this,
                ));
            }
        }
    }
    Ok(Preflight {
        kinds: kinds.len(),
        controllers: controllers.len(),
    })
}
