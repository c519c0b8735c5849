//! Checks of the rendered Kubernetes manifests that schema tools cannot make: envctl's
//! labels and namespace on every object, the hardening of every pod, the rollout settings
//! lossless deploys depend on, and KEDA's ScaledObject/TriggerAuthentication (CRDs that
//! the offline schema validator does not know).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::{common_labels, Names};
use super::rendered::{slash_path, Rendered};
use crate::profile::Profile;
use crate::{Error, Result};

/// What `envctl up` needs to know about the manifests (written to manifest.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubernetesSummary {
    /// Files to apply, in order (the migration Job's file excluded).
    pub apply_order: Vec<String>,
    pub migration_job: MigrationJob,
    /// Deployments whose rollout `up` waits for.
    pub deployments: Vec<String>,
    /// Label selector of everything this environment owns (for pruning).
    pub prune_selector: String,
}

/// The migration Job, run (and waited for) before the Deployments roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationJob {
    pub file: String,
    pub name: String,
}

fn invalid(what: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Rendered {
        what: what.into(),
        message: message.into(),
    }
}

/// Parses every document of every `k8s/*.yaml` file.
pub(super) fn documents(rendered: &Rendered) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (path, text) in &rendered.files {
        if !path.starts_with("k8s") {
            continue;
        }
        let file = slash_path(path);
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value = Value::deserialize(doc)
                .map_err(|e| invalid(&file, format!("not valid YAML: {e}")))?;
            if !value.is_null() {
                out.push((file.clone(), value));
            }
        }
    }
    Ok(out)
}

/// Checks the manifests and summarises them for manifest.json.
pub fn validate_manifests(
    rendered: &Rendered,
    p: &Profile,
    names: &Names,
) -> Result<KubernetesSummary> {
    let docs = documents(rendered)?;
    let labels = common_labels(p);
    let namespace = p.namespace();
    let mut deployments = Vec::new();
    let mut job: Option<MigrationJob> = None;
    let mut kinds = BTreeSet::new();
    for (file, doc) in &docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let what = format!("{file}: {kind} {name}");
        if doc["apiVersion"].as_str().is_none() || kind.is_empty() || name.is_empty() {
            return Err(invalid(
                what,
                "every object needs apiVersion, kind and metadata.name",
            ));
        }
        for (key, value) in labels.as_object().expect("labels are a map") {
            if doc["metadata"]["labels"][key] != *value {
                return Err(invalid(what, format!("label {key}={value} is missing")));
            }
        }
        if kind != "Namespace" && doc["metadata"]["namespace"].as_str() != Some(namespace.as_str())
        {
            return Err(invalid(
                what,
                format!("metadata.namespace must be {namespace}"),
            ));
        }
        kinds.insert(kind.to_string());
        match kind {
            "Deployment" => {
                check_pod(&what, &doc["spec"]["template"]["spec"], p, true)?;
                check_rollout(&what, doc, p)?;
                deployments.push(name.to_string());
            }
            "Job" => {
                check_pod(&what, &doc["spec"]["template"]["spec"], p, false)?;
                if name != names.migration_job {
                    return Err(invalid(
                        what,
                        format!("the migration Job must be named {}", names.migration_job),
                    ));
                }
                if docs.iter().filter(|(f, _)| f == file).count() != 1 {
                    return Err(invalid(what, "the migration Job must be alone in its file"));
                }
                job = Some(MigrationJob {
                    file: file.clone(),
                    name: name.to_string(),
                });
            }
            "ScaledObject" => check_scaled_object(&what, doc, &docs)?,
            "TriggerAuthentication" => check_trigger_authentication(&what, doc)?,
            _ => {}
        }
    }
    for required in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "ScaledObject",
        "Job",
    ] {
        if !kinds.contains(required) {
            return Err(invalid("k8s/", format!("no {required} was rendered")));
        }
    }
    let job = job.ok_or_else(|| invalid("k8s/", "no migration Job was rendered"))?;
    let apply_order = rendered
        .files
        .keys()
        .filter(|p| p.starts_with("k8s"))
        .map(|p| slash_path(p))
        .filter(|f| *f != job.file)
        .collect();
    deployments.sort();
    Ok(KubernetesSummary {
        apply_order,
        migration_job: job,
        deployments,
        prune_selector: format!("envctl.io/environment={}", p.name),
    })
}

/// Hardening every pod must have.
fn check_pod(what: &str, spec: &Value, p: &Profile, serving: bool) -> Result<()> {
    if spec["securityContext"]["runAsNonRoot"] != Value::Bool(true) {
        return Err(invalid(
            what,
            "pods must set securityContext.runAsNonRoot: true",
        ));
    }
    if spec["automountServiceAccountToken"] != Value::Bool(false) {
        return Err(invalid(
            what,
            "pods must not mount the Kubernetes API token",
        ));
    }
    let containers = spec["containers"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid(what, "no containers"))?;
    for c in containers {
        let sc = &c["securityContext"];
        let cname = c["name"].as_str().unwrap_or("?");
        let fail = |m: &str| invalid(what, format!("container {cname}: {m}"));
        if sc["readOnlyRootFilesystem"] != Value::Bool(true) {
            return Err(fail("readOnlyRootFilesystem must be true"));
        }
        if sc["allowPrivilegeEscalation"] != Value::Bool(false) {
            return Err(fail("allowPrivilegeEscalation must be false"));
        }
        if !sc["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"))
        {
            return Err(fail("capabilities must drop ALL"));
        }
        let image = c["image"].as_str().unwrap_or_default();
        if image.ends_with(":latest") || !(image.contains(':') || image.contains('@')) {
            return Err(fail(
                "the image must be pinned (no `latest`, no missing tag)",
            ));
        }
        for key in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                if c["resources"][key][res].is_null() {
                    return Err(fail(&format!("resources.{key}.{res} is missing")));
                }
            }
        }
        if serving {
            if c["readinessProbe"]["httpGet"]["path"] != rates_contract::routes::READYZ.path
                || c["livenessProbe"]["httpGet"]["path"] != rates_contract::routes::HEALTHZ.path
            {
                return Err(fail("readiness must probe /readyz and liveness /healthz"));
            }
            if c["lifecycle"]["preStop"].is_null() {
                return Err(fail(
                    "a preStop pause is needed so endpoints are removed before SIGTERM",
                ));
            }
        }
    }
    if serving {
        let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        if grace <= u64::from(p.runtime.drain_timeout_seconds) {
            return Err(invalid(
                what,
                format!(
                    "terminationGracePeriodSeconds ({grace}) must exceed the drain timeout ({}s)",
                    p.runtime.drain_timeout_seconds
                ),
            ));
        }
    }
    Ok(())
}

fn check_rollout(what: &str, doc: &Value, _p: &Profile) -> Result<()> {
    let strategy = &doc["spec"]["strategy"];
    if strategy["type"] != "RollingUpdate" || strategy["rollingUpdate"]["maxUnavailable"] != 0 {
        return Err(invalid(what, "rolling updates must use maxUnavailable: 0"));
    }
    Ok(())
}

/// Only these keys exist in KEDA's ScaledObject spec (keda.sh/v1alpha1, KEDA 2.x).
const SCALED_OBJECT_SPEC_KEYS: &[&str] = &[
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
];
/// Metadata keys of KEDA's aws-sqs-queue scaler.
const SQS_METADATA_KEYS: &[&str] = &[
    "queueURL",
    "queueURLFromEnv",
    "queueLength",
    "activationQueueLength",
    "awsRegion",
    "awsEndpoint",
    "identityOwner",
    "scaleOnInFlight",
    "scaleOnDelayed",
];

fn check_keys(what: &str, obj: &Value, allowed: &[&str], at: &str) -> Result<()> {
    let map = obj
        .as_object()
        .ok_or_else(|| invalid(what, format!("{at} must be a mapping")))?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(
                what,
                format!(
                    "{at}.{key} is not a field KEDA knows (allowed: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn check_scaled_object(what: &str, doc: &Value, docs: &[(String, Value)]) -> Result<()> {
    if doc["apiVersion"] != "keda.sh/v1alpha1" {
        return Err(invalid(what, "ScaledObject must be keda.sh/v1alpha1"));
    }
    let spec = &doc["spec"];
    check_keys(what, spec, SCALED_OBJECT_SPEC_KEYS, "spec")?;
    let target = spec["scaleTargetRef"]["name"]
        .as_str()
        .ok_or_else(|| invalid(what, "spec.scaleTargetRef.name is required"))?;
    let target_doc = docs
        .iter()
        .find(|(_, d)| d["kind"] == "Deployment" && d["metadata"]["name"] == target)
        .map(|(_, d)| d)
        .ok_or_else(|| {
            invalid(
                what,
                format!("spec.scaleTargetRef names Deployment {target}, which is not rendered"),
            )
        })?;
    if !target_doc["spec"]["replicas"].is_null() {
        return Err(invalid(
            what,
            format!("Deployment {target} must not set spec.replicas: KEDA owns it"),
        ));
    }
    let min = spec["minReplicaCount"]
        .as_u64()
        .ok_or_else(|| invalid(what, "spec.minReplicaCount must be an integer"))?;
    let max = spec["maxReplicaCount"]
        .as_u64()
        .ok_or_else(|| invalid(what, "spec.maxReplicaCount must be an integer"))?;
    if min > max || max == 0 {
        return Err(invalid(
            what,
            format!("minReplicaCount {min} / maxReplicaCount {max} are inconsistent"),
        ));
    }
    for key in ["pollingInterval", "cooldownPeriod"] {
        if !spec[key].is_null() && !spec[key].is_u64() {
            return Err(invalid(what, format!("spec.{key} must be an integer")));
        }
    }
    let triggers = spec["triggers"]
        .as_array()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid(what, "spec.triggers must list at least one trigger"))?;
    for (i, trigger) in triggers.iter().enumerate() {
        check_keys(
            what,
            trigger,
            &[
                "type",
                "name",
                "metadata",
                "authenticationRef",
                "metricType",
                "useCachedMetrics",
            ],
            &format!("spec.triggers[{i}]"),
        )?;
        if trigger["type"] != "aws-sqs-queue" {
            return Err(invalid(
                what,
                format!("spec.triggers[{i}].type must be aws-sqs-queue"),
            ));
        }
        let md = &trigger["metadata"];
        check_keys(
            what,
            md,
            SQS_METADATA_KEYS,
            &format!("spec.triggers[{i}].metadata"),
        )?;
        // KEDA metadata values are strings.
        for (k, v) in md.as_object().into_iter().flatten() {
            if !v.is_string() {
                return Err(invalid(
                    what,
                    format!("spec.triggers[{i}].metadata.{k} must be a string"),
                ));
            }
        }
        if md["queueURL"].is_null() == md["queueURLFromEnv"].is_null() {
            return Err(invalid(
                what,
                "exactly one of queueURL and queueURLFromEnv is required",
            ));
        }
        if md["awsRegion"].as_str().is_none_or(str::is_empty) {
            return Err(invalid(what, "metadata.awsRegion is required"));
        }
        if !md["queueLength"]
            .as_str()
            .is_some_and(|s| s.parse::<u32>().is_ok_and(|n| n > 0))
        {
            return Err(invalid(
                what,
                "metadata.queueLength must be a positive integer string",
            ));
        }
        if let Some(env) = md["queueURLFromEnv"].as_str() {
            // KEDA reads it from the target's containers' environment (env or envFrom).
            let containers = target_doc["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let direct = containers.iter().any(|c| {
                c["env"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|v| v["name"] == env))
            });
            let from = containers
                .iter()
                .any(|c| c["envFrom"].as_array().is_some_and(|e| !e.is_empty()));
            if !direct && !from {
                return Err(invalid(
                    what,
                    format!("queueURLFromEnv {env} is not in Deployment {target}'s environment"),
                ));
            }
        }
        if let Some(auth) = trigger["authenticationRef"]["name"].as_str() {
            let found = docs.iter().any(|(_, d)| {
                d["kind"] == "TriggerAuthentication" && d["metadata"]["name"] == auth
            });
            if !found {
                return Err(invalid(
                    what,
                    format!("authenticationRef {auth} is not rendered"),
                ));
            }
        }
    }
    Ok(())
}

fn check_trigger_authentication(what: &str, doc: &Value) -> Result<()> {
    if doc["apiVersion"] != "keda.sh/v1alpha1" {
        return Err(invalid(
            what,
            "TriggerAuthentication must be keda.sh/v1alpha1",
        ));
    }
    check_keys(
        what,
        &doc["spec"],
        &[
            "podIdentity",
            "secretTargetRef",
            "env",
            "hashiCorpVault",
            "azureKeyVault",
            "awsSecretManager",
            "gcpSecretManager",
            "configMapTargetRef",
        ],
        "spec",
    )?;
    let identity = &doc["spec"]["podIdentity"];
    if !identity.is_null() {
        check_keys(
            what,
            identity,
            &[
                "provider",
                "roleArn",
                "identityOwner",
                "identityId",
                "identityTenantId",
                "identityAuthorityHost",
            ],
            "spec.podIdentity",
        )?;
        let provider = identity["provider"].as_str().unwrap_or_default();
        if !["aws", "aws-eks", "azure-workload", "gcp", "none"].contains(&provider) {
            return Err(invalid(
                what,
                format!("spec.podIdentity.provider `{provider}` is not a KEDA provider"),
            ));
        }
        if let Some(owner) = identity["identityOwner"].as_str() {
            if !["keda", "workload"].contains(&owner) {
                return Err(invalid(
                    what,
                    "spec.podIdentity.identityOwner must be keda or workload",
                ));
            }
        }
    }
    Ok(())
}
