//! Rendering: from a [`Profile`] to the files of one environment (Terraform root and
//! modules, Kubernetes manifests, CloudWatch alarms and dashboard, manifest.json).
//! Pure and deterministic: the same profile and repository give the same bytes.

mod cloudwatch;
mod context;
mod kubernetes;
mod rendered;
mod templates;

use std::path::{Path, PathBuf};

pub use cloudwatch::{
    check_runtime_metrics, validate_alarms, validate_dashboard, RuntimeMetricUse,
};
pub use context::{ecr_repository, image_ref, runtime_config, Names, EVENTS_SECRET};
pub use kubernetes::{validate_manifests, KubernetesSummary};
pub use rendered::{slash_path, Rendered, MANIFEST};
pub use templates::Templates;

use crate::profile::{Profile, Target};
use crate::{Error, Result};

/// The Terraform modules an AWS environment's root calls (copied into the rendered root).
pub const MODULES: &[&str] = &[
    "network",
    "eks",
    "database",
    "queue",
    "storage",
    "observability",
    "addons",
    "edge",
];

/// The template directories rendered for each target.
fn template_dirs(target: Target) -> &'static [&'static str] {
    match target {
        Target::Aws => &["terraform", "k8s", "cloudwatch"],
        // `envctl up local` builds the processes' environment itself (local/settings.rs,
        // by the contract's names); nothing is rendered for it.
        Target::Local => &[],
    }
}

/// Renders every file of `profile`'s environment from the templates under `root`.
pub fn render(root: &Path, profile: &Profile) -> Result<Rendered> {
    let templates = Templates::load(&root.join("templates"))?;
    render_with(root, &templates, profile)
}

/// [`render`] with templates already loaded (for rendering several environments).
pub fn render_with(root: &Path, templates: &Templates, profile: &Profile) -> Result<Rendered> {
    let context = minijinja::Value::from_serialize(context::build(profile));
    let mut rendered = Rendered::default();
    for dir in template_dirs(profile.target) {
        for name in templates.under(dir) {
            let out = PathBuf::from(name.strip_suffix(".j2").unwrap_or(name));
            let text = templates.render(name, &context)?;
            rendered.files.insert(out, text);
        }
    }
    let mut kubernetes = None;
    if profile.target == Target::Aws {
        copy_modules(root, &mut rendered)?;
        let names = Names::of(profile);
        kubernetes = Some(validate_manifests(&rendered, profile, &names)?);
        validate_alarms(file(&rendered, "cloudwatch/alarms.json")?, profile)?;
        validate_dashboard(file(&rendered, "cloudwatch/dashboard.json")?)?;
        check_runtime_metrics(
            file(&rendered, "cloudwatch/alarms.json")?,
            file(&rendered, "cloudwatch/dashboard.json")?,
            profile,
        )?;
        // JSON files are normalised (parsed and pretty-printed) so their bytes are stable.
        for name in ["cloudwatch/alarms.json", "cloudwatch/dashboard.json"] {
            let value: serde_json::Value =
                serde_json::from_str(file(&rendered, name)?).map_err(|e| Error::Rendered {
                    what: name.into(),
                    message: e.to_string(),
                })?;
            let pretty =
                serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n";
            rendered.files.insert(PathBuf::from(name), pretty);
        }
    }
    rendered.finish(profile, kubernetes.as_ref())?;
    Ok(rendered)
}

fn file<'a>(rendered: &'a Rendered, name: &str) -> Result<&'a str> {
    rendered
        .files
        .get(Path::new(name))
        .map(String::as_str)
        .ok_or_else(|| Error::Rendered {
            what: name.into(),
            message: format!("no template produced {name}"),
        })
}

/// Copies `terraform/modules/<name>/*.tf` (and the `.json` policy documents they read)
/// into the rendered root, so it is self-contained.
fn copy_modules(root: &Path, rendered: &mut Rendered) -> Result<()> {
    for module in MODULES {
        let dir = root.join("terraform/modules").join(module);
        let entries = std::fs::read_dir(&dir)
            .map_err(Error::io(format!("reading module {}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tf" || e == "json"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(Error::io(format!("reading {}", path.display())))?;
            let name = path.file_name().expect("read_dir entries have names");
            rendered
                .files
                .insert(Path::new("terraform/modules").join(module).join(name), text);
        }
    }
    Ok(())
}
