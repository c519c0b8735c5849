//! `Rendered`: the files of one environment in memory, and writing them to a directory
//! (removing stale files from an earlier render, never anything else).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::KubernetesSummary;
use crate::profile::Profile;
use crate::{Error, Result};

/// The name of the index file listing what a render wrote.
pub const MANIFEST: &str = "manifest.json";

/// Relative path → content of every rendered file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub files: BTreeMap<PathBuf, String>,
}

impl Rendered {
    /// Adds manifest.json (names, tags, Kubernetes apply order, file hashes).
    pub(crate) fn finish(
        &mut self,
        profile: &Profile,
        kubernetes: Option<&KubernetesSummary>,
    ) -> Result<()> {
        let hashes: BTreeMap<String, String> = self
            .files
            .iter()
            .map(|(p, c)| (slash_path(p), hex::encode(Sha256::digest(c.as_bytes()))))
            .collect();
        let manifest = json!({
            "environment": profile.name.as_str(),
            "target": profile.target.as_str(),
            "protected": profile.protected,
            "region": profile.aws.region.as_str(),
            "account_id": profile.aws.account_id.as_ref().map(|a| a.as_str()),
            "resource_prefix": profile.resource_prefix(),
            "cluster_name": profile.cluster_name(),
            "namespace": profile.namespace(),
            "alarm_prefix": profile.alarm_prefix(),
            "dashboard_name": profile.dashboard_name(),
            "state_key": profile.state_key(),
            "tags": profile.all_tags(),
            "kubernetes": kubernetes,
            "files": hashes,
        });
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Rendered {
            what: MANIFEST.into(),
            message: e.to_string(),
        })?;
        self.files.insert(PathBuf::from(MANIFEST), text + "\n");
        Ok(())
    }

    /// Writes every file under `dir`, then removes files an earlier render of `dir` wrote
    /// (listed in its manifest.json) that this render no longer has.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let previous = previous_files(dir);
        for (rel, content) in &self.files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(Error::io(format!("creating {}", parent.display())))?;
            }
            // Unchanged files keep their mtime, so tools watching the tree see real changes only.
            if std::fs::read(&path).is_ok_and(|old| old == content.as_bytes()) {
                continue;
            }
            std::fs::write(&path, content)
                .map_err(Error::io(format!("writing {}", path.display())))?;
        }
        for stale in previous {
            let rel = PathBuf::from(&stale);
            if self.files.contains_key(&rel) || rel.is_absolute() || stale.contains("..") {
                continue;
            }
            let path = dir.join(&rel);
            if path.is_file() {
                std::fs::remove_file(&path)
                    .map_err(Error::io(format!("removing stale {}", path.display())))?;
                remove_empty_parents(dir, &path);
            }
        }
        Ok(())
    }

    /// The content of manifest.json as JSON.
    pub fn manifest(&self) -> Option<serde_json::Value> {
        self.files
            .get(Path::new(MANIFEST))
            .and_then(|t| serde_json::from_str(t).ok())
    }
}

/// The files listed by the manifest.json an earlier render left in `dir`.
fn previous_files(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    value["files"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn remove_empty_parents(dir: &Path, file: &Path) {
    let mut current = file.parent();
    while let Some(parent) = current {
        if parent == dir || !parent.starts_with(dir) || std::fs::remove_dir(parent).is_err() {
            break;
        }
        current = parent.parent();
    }
}

/// A relative path with `/` separators, as written in manifest.json.
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
