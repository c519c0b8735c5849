//! Server-side apply (field manager `envctl`) of rendered objects, and pruning of
//! objects that carry the environment's labels but are no longer rendered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use serde::Serialize;

use super::objects::{ObjectKey, RenderedObject};
use crate::{Error, Result};

/// The field manager of every envctl write.
pub const FIELD_MANAGER: &str = "envctl";

/// Kinds envctl may have created in an environment: the ones pruned and torn down
/// besides whatever the current render has. Namespaces go last.
pub const MANAGED_KINDS: &[(&str, &str)] = &[
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("v1", "Namespace"),
];

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

/// What an apply (and prune) did, by object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub configured: Vec<String>,
    pub unchanged: usize,
    pub pruned: Vec<String>,
}

impl ApplyReport {
    pub fn record(&mut self, key: &ObjectKey, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created.push(key.to_string()),
            Outcome::Configured => self.configured.push(key.to_string()),
            Outcome::Unchanged => self.unchanged += 1,
        }
    }

    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.configured.is_empty() && self.pruned.is_empty())
    }
}

/// The API resource of a kind, or `None` when the cluster does not serve it.
pub(crate) async fn discover(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
) -> Result<Option<(ApiResource, ApiCapabilities)>> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(found) => Ok(Some(found)),
        Err(kube::Error::Discovery(_)) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(kube_error(format!("discovering {api_version} {kind}"))(err)),
    }
}

/// Applies and prunes through one client, caching API discovery.
pub struct Applier {
    client: kube::Client,
    resources: HashMap<(String, String), Option<(ApiResource, ApiCapabilities)>>,
}

impl Applier {
    pub fn new(client: kube::Client) -> Applier {
        Applier {
            client,
            resources: HashMap::new(),
        }
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The API resource of a kind, or `None` when the cluster does not serve it.
    async fn resource(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>> {
        let cache_key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.resources.get(&cache_key) {
            return Ok(found.clone());
        }
        let found = discover(&self.client, api_version, kind).await?;
        self.resources.insert(cache_key, found.clone());
        Ok(found)
    }

    async fn api_for(&mut self, key: &ObjectKey) -> Result<Api<DynamicObject>> {
        let (resource, caps) = self
            .resource(&key.api_version, &key.kind)
            .await?
            .ok_or_else(|| Error::Kubernetes {
                operation: format!("applying {key}"),
                message: format!(
                    "the cluster does not serve {} {}",
                    key.api_version, key.kind
                ),
                help: Some(match key.kind.as_str() {
                    "ScaledObject" | "TriggerAuthentication" => {
                        "KEDA serves this kind: the rendered Terraform installs it (terraform/modules/addons)"
                            .to_string()
                    }
                    _ => "check the cluster version and installed add-ons".to_string(),
                }),
            })?;
        Ok(if caps.scope == Scope::Namespaced {
            Api::namespaced_with(self.client.clone(), &key.namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        })
    }

    /// The live object, if any.
    pub async fn get(&mut self, key: &ObjectKey) -> Result<Option<DynamicObject>> {
        let api = self.api_for(key).await?;
        api.get_opt(&key.name)
            .await
            .map_err(kube_error(format!("reading {key}")))
    }

    /// Server-side applies one object (forcing envctl's ownership of its fields).
    pub async fn apply(&mut self, object: &RenderedObject) -> Result<Outcome> {
        let key = &object.key;
        let api = self.api_for(key).await?;
        let before = api
            .get_opt(&key.name)
            .await
            .map_err(kube_error(format!("reading {key}")))?
            .and_then(|o| o.metadata.resource_version);
        let mut body = object.body.clone();
        if !key.namespace.is_empty() {
            body["metadata"]["namespace"] = key.namespace.clone().into();
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let after = api
            .patch(&key.name, &params, &Patch::Apply(&body))
            .await
            .map_err(kube_error(format!(
                "applying {key} (from {})",
                object.file.display()
            )))?
            .metadata
            .resource_version;
        Ok(match before {
            None => Outcome::Created,
            Some(before) if Some(&before) == after.as_ref() => Outcome::Unchanged,
            Some(_) => Outcome::Configured,
        })
    }

    /// Deletes one object; `false` when it was already gone.
    pub async fn delete(&mut self, key: &ObjectKey) -> Result<bool> {
        let api = self.api_for(key).await?;
        match api.delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(err) => Err(kube_error(format!("deleting {key}"))(err)),
        }
    }

    /// Every object of the given kinds matching `selector`, in every namespace.
    pub async fn list_labeled(
        &mut self,
        selector: &str,
        kinds: &[(String, String)],
    ) -> Result<Vec<ObjectKey>> {
        let mut found = Vec::new();
        for (api_version, kind) in kinds {
            let Some((resource, _caps)) = self.resource(api_version, kind).await? else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(kube_error(format!("listing {kind} with {selector}")))?;
            for item in list.items {
                found.push(ObjectKey {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    namespace: item.metadata.namespace.clone().unwrap_or_default(),
                    name: item.metadata.name.clone().unwrap_or_default(),
                });
            }
        }
        Ok(found)
    }

    /// Deletes every labeled object not in `keep`; returns what it deleted.
    pub async fn prune(
        &mut self,
        selector: &str,
        keep: &BTreeSet<ObjectKey>,
        rendered_kinds: &[(String, String)],
    ) -> Result<Vec<ObjectKey>> {
        let kinds = prune_kinds(rendered_kinds);
        let mut pruned = Vec::new();
        for key in self.list_labeled(selector, &kinds).await? {
            // Same object under another served version is still the same object.
            if keep
                .iter()
                .any(|k| k.kind == key.kind && k.namespace == key.namespace && k.name == key.name)
            {
                continue;
            }
            if self.delete(&key).await? {
                pruned.push(key);
            }
        }
        Ok(pruned)
    }
}

/// The managed kinds plus any other rendered kind, in deletion order (namespaces last).
pub fn prune_kinds(rendered_kinds: &[(String, String)]) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = MANAGED_KINDS
        .iter()
        .filter(|(_, k)| *k != "Namespace")
        .map(|(a, k)| (a.to_string(), k.to_string()))
        .collect();
    let mut seen: BTreeMap<String, ()> = kinds.iter().map(|(_, k)| (k.clone(), ())).collect();
    for (api_version, kind) in rendered_kinds {
        if kind != "Namespace" && seen.insert(kind.clone(), ()).is_none() {
            kinds.push((api_version.clone(), kind.clone()));
        }
    }
    kinds.push(("v1".into(), "Namespace".into()));
    kinds
}

/// Wraps a kube error with what was being done (and the API's own message).
pub fn kube_error(operation: String) -> impl FnOnce(kube::Error) -> Error {
    move |err| {
        let (message, help) = match &err {
            kube::Error::Api(status) if status.code == 401 => (
                format!("unauthorized: {}", status.message),
                Some("the EKS token was rejected: check that your IAM identity has an access entry in the cluster".into()),
            ),
            kube::Error::Api(status) if status.code == 403 => (
                format!("forbidden: {}", status.message),
                Some("your IAM identity's access entry lacks the needed Kubernetes permissions".into()),
            ),
            kube::Error::Api(status) => (format!("{} ({})", status.message, status.code), None),
            other => (other.to_string(), None),
        };
        Error::Kubernetes {
            operation,
            message,
            help,
        }
    }
}
