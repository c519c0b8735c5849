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

/// The objects a release consists of: every Deployment, and the ConfigMaps and Secrets
/// their pod templates read (envFrom, env valueFrom, volumes). Services, ingresses and
/// autoscalers are not versioned with the image; the migration Job never is (migrations
/// only go forward).
pub fn release_objects(objects: &[&RenderedObject]) -> Vec<ReleaseObject> {
    let deployments: Vec<&RenderedObject> = objects
        .iter()
        .copied()
        .filter(|o| o.key.kind == "Deployment")
        .collect();
    let mut read: BTreeSet<(String, String, String)> = BTreeSet::new();
    for d in &deployments {
        let spec = &d.body["spec"]["template"]["spec"];
        collect_references(spec, &d.key.namespace, &mut read);
    }
    let mut out: Vec<ReleaseObject> = objects
        .iter()
        .filter(|o| {
            o.key.kind == "Deployment"
                || ((o.key.kind == "ConfigMap" || o.key.kind == "Secret")
                    && read.contains(&(
                        o.key.kind.clone(),
                        o.key.namespace.clone(),
                        o.key.name.clone(),
                    )))
        })
        .map(|o| {
            let mut body = o.body.clone();
            if !o.key.namespace.is_empty() {
                body["metadata"]["namespace"] = o.key.namespace.clone().into();
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
