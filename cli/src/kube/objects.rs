//! The rendered Kubernetes objects (k8s/*.yaml), parsed once, each with the file it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// What identifies an object: apiVersion, kind, namespace (empty for cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(
                f,
                "{}/{} (namespace {})",
                self.kind, self.name, self.namespace
            )
        }
    }
}

/// One rendered object.
#[derive(Debug, Clone)]
pub struct RenderedObject {
    pub file: PathBuf,
    pub key: ObjectKey,
    pub body: Value,
}

impl RenderedObject {
    pub fn from_value(file: &Path, body: Value, default_namespace: &str) -> Result<RenderedObject> {
        let field = |name: &str| -> Result<String> {
            let value = match name {
                "name" => body["metadata"]["name"].as_str(),
                other => body[other].as_str(),
            };
            value.map(str::to_string).ok_or_else(|| Error::Rendered {
                what: file.display().to_string(),
                message: format!("an object has no `{name}`"),
            })
        };
        let api_version = field("apiVersion")?;
        let kind = field("kind")?;
        let name = field("name")?;
        let namespace = body["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                if is_cluster_scoped(&kind) {
                    String::new()
                } else {
                    default_namespace.to_string()
                }
            });
        Ok(RenderedObject {
            file: file.to_path_buf(),
            key: ObjectKey {
                api_version,
                kind,
                namespace,
                name,
            },
            body,
        })
    }
}

/// Kinds envctl renders that live outside namespaces.
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "PriorityClass"
            | "StorageClass"
            | "IngressClass"
    )
}

/// Parses every YAML document of `text` (a rendered k8s/ file).
pub fn parse_file(file: &Path, text: &str, default_namespace: &str) -> Result<Vec<RenderedObject>> {
    let mut objects = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| Error::Rendered {
            what: file.display().to_string(),
            message: format!(
                "document {}{}: {e}",
                index + 1,
                e.location()
                    .map(|l| format!(" (line {})", l.line()))
                    .unwrap_or_default()
            ),
        })?;
        if value.is_null() {
            continue;
        }
        objects.push(RenderedObject::from_value(file, value, default_namespace)?);
    }
    Ok(objects)
}
