//! The rendered tree a deployment works from: the Kubernetes objects in apply order
//! (migration Job and Deployments singled out), the alarms and the dashboard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::context::Context;
use crate::kube::objects::{parse_file, RenderedObject};
use crate::kube::ObjectKey;
use crate::profile::Profile;
use crate::render::Rendered;
use crate::{Error, Result};

/// The `kubernetes` part of manifest.json.
#[derive(Debug, Clone, Default, Deserialize)]
struct KubeManifest {
    #[serde(default)]
    apply_order: Vec<String>,
    #[serde(default)]
    migration_job: Option<MigrationJob>,
    #[serde(default)]
    deployments: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct MigrationJob {
    file: String,
    name: String,
}

/// What `up`, `down` and `status` deploy or inspect.
#[derive(Debug, Clone)]
pub struct DeployTree {
    /// Where the tree was written (`None` when only rendered in memory).
    pub dir: Option<PathBuf>,
    pub namespace: String,
    /// Every object but the migration Job, in apply order.
    pub objects: Vec<RenderedObject>,
    pub migration_job: Option<RenderedObject>,
    pub deployments: Vec<String>,
    pub alarms_json: Option<String>,
    pub dashboard_json: Option<String>,
    /// `envctl.io/environment=<env>,app.kubernetes.io/managed-by=envctl`: the labels of
    /// everything envctl put in the cluster (objects others labeled are never pruned).
    pub prune_selector: String,
}

impl DeployTree {
    /// Renders the environment and writes it to `.envctl/ENV/` (Terraform runs there).
    pub fn render_to_disk(ctx: &Context, profile: &Profile) -> Result<DeployTree> {
        let rendered = crate::render::render(&ctx.root, profile)?;
        let dir = ctx.state_dir().join(profile.name.as_str());
        rendered.write(&dir)?;
        let mut tree = DeployTree::from_rendered(&rendered, profile)?;
        tree.dir = Some(dir);
        Ok(tree)
    }

    /// Renders the environment in memory only (for `status`).
    pub fn render_in_memory(ctx: &Context, profile: &Profile) -> Result<DeployTree> {
        let rendered = crate::render::render(&ctx.root, profile)?;
        DeployTree::from_rendered(&rendered, profile)
    }

    pub fn from_rendered(rendered: &Rendered, profile: &Profile) -> Result<DeployTree> {
        let namespace = profile.namespace();
        let kube: KubeManifest = rendered
            .manifest()
            .and_then(|m| m.get("kubernetes").cloned())
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::Rendered {
                what: "manifest.json".into(),
                message: format!("`kubernetes`: {e}"),
            })?
            .unwrap_or_default();
        let mut files: Vec<String> = kube.apply_order.clone();
        if files.is_empty() {
            files = rendered
                .files
                .keys()
                .filter(|p| {
                    p.starts_with("k8s")
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .collect();
        }
        if let Some(job) = &kube.migration_job {
            if !files.contains(&job.file) {
                files.push(job.file.clone());
            }
        }
        let mut objects = Vec::new();
        for file in &files {
            let path = if Path::new(file).starts_with("k8s") {
                PathBuf::from(file)
            } else {
                Path::new("k8s").join(file)
            };
            let text = rendered.files.get(&path).ok_or_else(|| Error::Rendered {
                what: "manifest.json".into(),
                message: format!("kubernetes.apply_order lists {file}, which was not rendered"),
            })?;
            objects.extend(parse_file(&path, text, &namespace)?);
        }
        let job_name = kube.migration_job.as_ref().map(|j| j.name.clone());
        let (jobs, objects): (Vec<RenderedObject>, Vec<RenderedObject>) =
            objects.into_iter().partition(|o| {
                o.key.kind == "Job" && job_name.as_ref().is_none_or(|n| *n == o.key.name)
            });
        if jobs.len() > 1 {
            return Err(Error::Rendered {
                what: "k8s/".into(),
                message: format!(
                    "{} Jobs rendered; envctl runs exactly one migration Job (name it in manifest.json kubernetes.migration_job)",
                    jobs.len()
                ),
            });
        }
        if let (Some(job), true) = (&kube.migration_job, jobs.is_empty()) {
            return Err(Error::Rendered {
                what: job.file.clone(),
                message: format!(
                    "manifest.json names migration Job `{}`, but no such Job was rendered",
                    job.name
                ),
            });
        }
        let mut deployments = kube.deployments.clone();
        if deployments.is_empty() {
            deployments = objects
                .iter()
                .filter(|o| o.key.kind == "Deployment")
                .map(|o| o.key.name.clone())
                .collect();
        }
        Ok(DeployTree {
            dir: None,
            namespace,
            objects,
            migration_job: jobs.into_iter().next(),
            deployments,
            alarms_json: rendered
                .files
                .get(Path::new("cloudwatch/alarms.json"))
                .cloned(),
            dashboard_json: rendered
                .files
                .get(Path::new("cloudwatch/dashboard.json"))
                .cloned(),
            prune_selector: format!(
                "envctl.io/environment={},app.kubernetes.io/managed-by=envctl",
                profile.name.as_str()
            ),
        })
    }

    /// The rendered Terraform root.
    pub fn terraform_dir(&self) -> Result<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join("terraform"))
            .ok_or_else(|| Error::Rendered {
                what: "terraform/".into(),
                message: "the tree was not written to disk".into(),
            })
    }

    /// (apiVersion, kind) of every rendered object.
    pub fn kinds(&self) -> Vec<(String, String)> {
        let mut kinds: BTreeMap<String, String> = BTreeMap::new();
        for o in self.objects.iter().chain(self.migration_job.iter()) {
            kinds.insert(o.key.kind.clone(), o.key.api_version.clone());
        }
        kinds.into_iter().map(|(k, a)| (a, k)).collect()
    }

    pub fn keys(&self) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .chain(self.migration_job.iter())
            .map(|o| o.key.clone())
            .collect()
    }
}
