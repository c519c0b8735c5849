//! The releases `up` applies, kept in the state bucket (`envctl/releases/ENV/NNNNNN.json`):
//! the exact Deployments and the ConfigMaps and Secrets they read, with the image, the
//! commit, when, by whom and the outcome. A rollback re-applies one of them; the bucket is
//! already encrypted, versioned and private, and its Terraform state holds the same secrets.

use std::collections::BTreeSet;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::kube::{ObjectKey, RenderedObject};
use crate::{Error, Result};

/// What became of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Being applied and rolled out (or envctl stopped before it knew more).
    RollingOut,
    /// Rolled out; the bake is watching it.
    Baking,
    /// Rolled out and baked (or no bake was asked for): a rollback target.
    Succeeded,
    /// Its rollout or smoke test failed; nothing was rolled back.
    Failed,
    /// A rollback alarm or the smoke test fired during its bake: the previous release
    /// was applied again (see `detail` and the next revision).
    RolledBack,
}

impl ReleaseOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseOutcome::RollingOut => "rolling out",
            ReleaseOutcome::Baking => "baking",
            ReleaseOutcome::Succeeded => "succeeded",
            ReleaseOutcome::Failed => "failed",
            ReleaseOutcome::RolledBack => "rolled back",
        }
    }
}

/// One object of a release, as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseObject {
    pub key: ObjectKey,
    pub body: Value,
}

/// One release envctl applied to an environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub revision: u32,
    pub environment: String,
    /// The api's container image.
    pub image: String,
    pub image_tag: String,
    /// The commit the deploy ran from ($GITHUB_SHA, else the project's git HEAD).
    pub commit: Option<String>,
    pub applied_at: DateTime<Utc>,
    /// The AWS identity that applied it.
    pub applied_by: String,
    pub outcome: ReleaseOutcome,
    /// What happened (what fired, when, what it was rolled back to).
    pub detail: Option<String>,
    /// Set when this release re-applied an earlier one (`rollback`, or a failed bake).
    pub rollback_of: Option<u32>,
    /// sha256 of the objects: the same digest is the same release.
    pub digest: String,
    pub objects: Vec<ReleaseObject>,
}

impl Release {
    /// The summary `history` shows and the JSON events carry (no object bodies: they
    /// hold the Secrets' data).
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "revision": self.revision,
            "image": self.image,
            "image_tag": self.image_tag,
            "commit": self.commit,
            "applied_at": self.applied_at.to_rfc3339(),
            "applied_by": self.applied_by,
            "outcome": self.outcome,
            "detail": self.detail,
            "rollback_of": self.rollback_of,
            "digest": self.digest,
            "objects": self.objects.iter().map(|o| o.key.to_string()).collect::<Vec<_>>(),
        })
    }

    /// The Deployments of the release, by name.
    pub fn deployments(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|o| o.key.kind == "Deployment")
            .map(|o| o.key.name.clone())
            .collect()
    }
}

/// The pod template annotation that carries a digest of everything a Deployment's pods
/// read from ConfigMaps and Secrets: a changed setting or a new webhook secret changes
/// the pod template, so the Deployment rolls its pods (they read both only at start).
pub const CONFIG_DIGEST_ANNOTATION: &str = "envctl.io/config-digest";

/// What a Secret's values are replaced with in a release record (the state bucket keeps
/// release history; credentials stay in the cluster and in Secrets Manager only).
const REDACTED_PREFIX: &str = "redacted:sha256:";

/// The ConfigMaps and Secrets (kind, namespace, name) the Deployments among `objects` read.
fn read_by_deployments<'a>(
    objects: impl Iterator<Item = &'a RenderedObject>,
) -> BTreeSet<(String, String, String)> {
    let mut read = BTreeSet::new();
    for d in objects.filter(|o| o.key.kind == "Deployment") {
        let spec = &d.body["spec"]["template"]["spec"];
        collect_references(spec, &d.key.namespace, &mut read);
    }
    read
}

fn is_read(read: &BTreeSet<(String, String, String)>, o: &RenderedObject) -> bool {
    (o.key.kind == "ConfigMap" || o.key.kind == "Secret")
        && read.contains(&(
            o.key.kind.clone(),
            o.key.namespace.clone(),
            o.key.name.clone(),
        ))
}

/// Sets [`CONFIG_DIGEST_ANNOTATION`] on the pod template of every Deployment in
/// `objects`: the sha256 of the `data` of the ConfigMaps and Secrets (in `objects` or
/// `infra`) it reads, in key order.
pub fn stamp_config_digest(objects: &mut [RenderedObject], infra: &[RenderedObject]) {
    let digests: Vec<(usize, String)> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.key.kind == "Deployment")
        .map(|(i, d)| {
            let read = read_by_deployments(std::iter::once(d));
            let mut sources: Vec<&RenderedObject> = objects
                .iter()
                .chain(infra)
                .filter(|o| is_read(&read, o))
                .collect();
            sources.sort_by(|a, b| a.key.cmp(&b.key));
            let mut hash = Sha256::new();
            for o in sources {
                hash.update(o.key.to_string().as_bytes());
                hash.update(o.body["data"].to_string().as_bytes());
                hash.update(o.body["stringData"].to_string().as_bytes());
            }
            (i, hex::encode(hash.finalize()))
        })
        .collect();
    for (i, digest) in digests {
        let metadata = &mut objects[i].body["spec"]["template"]["metadata"];
        if metadata["annotations"].is_null() {
            metadata["annotations"] = serde_json::json!({});
        }
        metadata["annotations"][CONFIG_DIGEST_ANNOTATION] = digest.into();
    }
}

/// The objects a release consists of: every Deployment, and the ConfigMaps and Secrets
/// their pod templates read (envFrom, env valueFrom, volumes). Services, ingresses and
/// autoscalers are not versioned with the image; the migration Job never is (migrations
/// only go forward). A Secret is recorded with each value replaced by its digest: the
/// record shows that a credential changed, never the credential, and a rollback leaves
/// the cluster's current Secrets as they are.
pub fn release_objects(objects: &[&RenderedObject]) -> Vec<ReleaseObject> {
    let read = read_by_deployments(objects.iter().copied());
    let mut out: Vec<ReleaseObject> = objects
        .iter()
        .filter(|o| o.key.kind == "Deployment" || is_read(&read, o))
        .map(|o| {
            let mut body = o.body.clone();
            if !o.key.namespace.is_empty() {
                body["metadata"]["namespace"] = o.key.namespace.clone().into();
            }
            if o.key.kind == "Secret" {
                redact(&mut body);
            }
            ReleaseObject {
                key: o.key.clone(),
                body,
            }
        })
        .collect();
    // ConfigMaps and Secrets before the Deployments that read them.
    out.sort_by_key(|o| (o.key.kind == "Deployment", o.key.clone()));
    out
}

fn collect_references(
    pod_spec: &Value,
    namespace: &str,
    out: &mut BTreeSet<(String, String, String)>,
) {
    let mut add = |kind: &str, name: Option<&str>| {
        if let Some(name) = name {
            out.insert((kind.to_string(), namespace.to_string(), name.to_string()));
        }
    };
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod_spec[*k].as_array().cloned().unwrap_or_default());
    for c in containers {
        for from in c["envFrom"].as_array().into_iter().flatten() {
            add("ConfigMap", from["configMapRef"]["name"].as_str());
            add("Secret", from["secretRef"]["name"].as_str());
        }
        for env in c["env"].as_array().into_iter().flatten() {
            add(
                "ConfigMap",
                env["valueFrom"]["configMapKeyRef"]["name"].as_str(),
            );
            add("Secret", env["valueFrom"]["secretKeyRef"]["name"].as_str());
        }
    }
    for v in pod_spec["volumes"].as_array().into_iter().flatten() {
        add("ConfigMap", v["configMap"]["name"].as_str());
        add("Secret", v["secret"]["secretName"].as_str());
        for source in v["projected"]["sources"].as_array().into_iter().flatten() {
            add("ConfigMap", source["configMap"]["name"].as_str());
            add("Secret", source["secret"]["name"].as_str());
        }
    }
}

/// Replaces a Secret's values with their digests, as a release records them.
pub fn redact(secret: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(values) = secret[field].as_object_mut() {
            for value in values.values_mut() {
                let text = value.as_str().unwrap_or_default();
                *value = format!(
                    "{REDACTED_PREFIX}{}",
                    hex::encode(Sha256::digest(text.as_bytes()))
                )
                .into();
            }
        }
    }
}

/// Whether a recorded object is a Secret whose values were kept out of the record
/// (a rollback does not apply it).
pub fn is_redacted(object: &ReleaseObject) -> bool {
    is_redacted_body(&object.key, &object.body)
}

/// [`is_redacted`] for an object's key and body.
pub fn is_redacted_body(key: &ObjectKey, body: &Value) -> bool {
    key.kind == "Secret"
        && ["data", "stringData"].iter().any(|f| {
            body[*f].as_object().is_some_and(|m| {
                m.values()
                    .any(|v| v.as_str().is_some_and(|t| t.starts_with(REDACTED_PREFIX)))
            })
        })
}

/// The digest of a release's objects.
pub fn digest(objects: &[ReleaseObject]) -> String {
    let text = serde_json::to_string(objects).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The commit a deploy runs from: $GITHUB_SHA in CI, else the project's git HEAD.
pub fn current_commit(root: &std::path::Path) -> Option<String> {
    if let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) {
        return Some(sha);
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The releases of one environment in the state bucket.
pub struct ReleaseStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl ReleaseStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, env: &str) -> ReleaseStore {
        ReleaseStore {
            s3,
            bucket: bucket.to_string(),
            prefix: format!("envctl/releases/{env}/"),
        }
    }

    fn key(&self, revision: u32) -> String {
        format!("{}{revision:06}.json", self.prefix)
    }

    /// The revisions stored, oldest first.
    pub async fn revisions(&self) -> Result<Vec<u32>> {
        let mut revisions = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::aws(format!(
                "s3:ListObjectsV2 s3://{}/{}",
                self.bucket, self.prefix
            )))?;
            for object in page.contents() {
                let revision = object
                    .key()
                    .and_then(|k| k.strip_prefix(&self.prefix))
                    .and_then(|k| k.strip_suffix(".json"))
                    .and_then(|n| n.parse::<u32>().ok());
                revisions.extend(revision);
            }
        }
        revisions.sort_unstable();
        Ok(revisions)
    }

    /// One release.
    pub async fn get(&self, revision: u32) -> Result<Option<Release>> {
        let key = self.key(revision);
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.code() == Some("NoSuchKey") => return Ok(None),
            Err(err) => {
                return Err(Error::aws(format!(
                    "s3:GetObject s3://{}/{key}",
                    self.bucket
                ))(err))
            }
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Error::Release {
                message: format!("reading s3://{}/{key}: {e}", self.bucket),
                help: None,
            })?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Release {
                message: format!("s3://{}/{key} is not a release record: {e}", self.bucket),
                help: Some("it was written by another envctl version, or edited by hand".into()),
            })
    }

    /// Every release, oldest first.
    pub async fn all(&self) -> Result<Vec<Release>> {
        let mut releases = Vec::new();
        for revision in self.revisions().await? {
            releases.extend(self.get(revision).await?);
        }
        Ok(releases)
    }

    /// Writes a release (new or with a new outcome).
    pub async fn put(&self, release: &Release) -> Result<()> {
        let key = self.key(release.revision);
        let body = serde_json::to_vec(release).map_err(|e| Error::Release {
            message: format!("serializing release {}: {e}", release.revision),
            help: None,
        })?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(Error::aws(format!(
                "s3:PutObject s3://{}/{key}",
                self.bucket
            )))?;
        Ok(())
    }

    /// Deletes the oldest releases beyond `keep`.
    pub async fn trim(&self, keep: usize) -> Result<Vec<u32>> {
        let revisions = self.revisions().await?;
        let excess = revisions.len().saturating_sub(keep);
        let old: Vec<u32> = revisions.into_iter().take(excess).collect();
        for revision in &old {
            let key = self.key(*revision);
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(Error::aws(format!(
                    "s3:DeleteObject s3://{}/{key}",
                    self.bucket
                )))?;
        }
        Ok(old)
    }
}

/// The release a rollback goes to: `to` when given, else the newest succeeded release
/// older than `current` whose objects differ from it.
pub fn rollback_target<'a>(
    releases: &'a [Release],
    current: Option<&Release>,
    to: Option<u32>,
) -> Result<&'a Release> {
    if let Some(to) = to {
        return releases
            .iter()
            .find(|r| r.revision == to)
            .ok_or_else(|| Error::Release {
                message: format!("there is no revision {to}"),
                help: Some(format!(
                    "`envctl history ENV` lists the revisions kept ({})",
                    releases
                        .iter()
                        .map(|r| r.revision.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
    }
    releases
        .iter()
        .rev()
        .filter(|r| current.is_none_or(|c| r.revision < c.revision && r.digest != c.digest))
        .find(|r| r.outcome == ReleaseOutcome::Succeeded)
        .ok_or_else(|| Error::Release {
            message: "no earlier release succeeded: there is nothing to roll back to".into(),
            help: Some(
                "deploy a known-good image with `envctl up ENV --image-tag TAG`; \
                 `envctl history ENV` lists what was applied"
                    .into(),
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn object(body: Value) -> RenderedObject {
        RenderedObject::from_value(Path::new("t"), body, "ns").unwrap()
    }

    fn deployment(name: &str, secret: &str) -> RenderedObject {
        object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"template": {"spec": {"containers": [{
                "name": "c",
                "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": secret}}],
            }]}}},
        }))
    }

    fn config(kind: &str, name: &str, value: &str) -> RenderedObject {
        object(json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": "ns"},
            "data": {"K": value},
        }))
    }

    fn digest_of(objects: &[RenderedObject], name: &str) -> String {
        let d = objects.iter().find(|o| o.key.name == name).unwrap();
        d.body["spec"]["template"]["metadata"]["annotations"][CONFIG_DIGEST_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_changed_setting_or_secret_changes_only_the_digest_of_the_deployments_that_read_it() {
        let stamp = |cfg: &str, events: &str| {
            let mut objects = vec![
                config("ConfigMap", "cfg", cfg),
                deployment("api", "events"),
                deployment("other", "database"),
            ];
            let infra = vec![
                config("Secret", "events", events),
                config("Secret", "database", "db"),
                config("Secret", "unread", "x"),
            ];
            stamp_config_digest(&mut objects, &infra);
            (digest_of(&objects, "api"), digest_of(&objects, "other"))
        };
        let (api, other) = stamp("a", "s1");
        assert_eq!(stamp("a", "s1"), (api.clone(), other.clone()), "stable");
        let (api2, other2) = stamp("a", "s2");
        assert_ne!(api2, api, "a new webhook secret rolls the api");
        assert_eq!(other2, other, "a Secret it does not read leaves it alone");
        let (api3, other3) = stamp("b", "s1");
        assert_ne!(api3, api);
        assert_ne!(other3, other, "a setting both read rolls both");
    }

    #[test]
    fn release_records_keep_secret_values_out_and_rollbacks_skip_them() {
        let d = deployment("api", "events");
        let cfg = config("ConfigMap", "cfg", "setting");
        let secret = config("Secret", "events", "c2lnbmluZy1rZXk=");
        let objects = release_objects(&[&d, &cfg, &secret]);
        let text = serde_json::to_string(&objects).unwrap();
        assert!(!text.contains("c2lnbmluZy1rZXk="), "{text}");
        assert!(text.contains("setting"));
        let recorded: Vec<(&str, bool)> = objects
            .iter()
            .map(|o| (o.key.name.as_str(), is_redacted(o)))
            .collect();
        assert_eq!(
            recorded,
            [("cfg", false), ("events", true), ("api", false)],
            "ConfigMaps and Secrets first, only the Secret redacted"
        );
        // Two different secrets still make two different releases.
        let other = config("Secret", "events", "b3RoZXI=");
        assert_ne!(
            digest(&objects),
            digest(&release_objects(&[&d, &cfg, &other]))
        );
    }
}
