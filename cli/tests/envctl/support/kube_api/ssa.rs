//! Server-side apply the way the API server does it (structured-merge-diff, driven by the
//! 1.32 schema): field paths and sets, their FieldsV1 form in `metadata.managedFields`,
//! the typed conversion that refuses unknown fields and wrong types, merging an applied
//! configuration into the live object (atomic vs granular maps, atomic / set / keyed
//! lists), and what each manager owns after an apply or an update.
//!
//! Kinds without a schema here (the add-ons' custom resources) are merged like
//! structured-merge-diff's deduced type: objects field by field, lists as a whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::schema::{ListKind, Schemas, Shape};

/// One step of a field path: a field or map key, a keyed list element (its key fields,
/// JSON-encoded, sorted by name), a set element (JSON), or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Pe {
    Field(String),
    Key(Vec<(String, String)>),
    Value(String),
    Index(usize),
}

pub(super) type Path = Vec<Pe>;
pub(super) type FieldSet = BTreeSet<Path>;

/// A path as structured-merge-diff prints it: `.spec.containers[name="api"].image`.
pub(super) fn path_string(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::Value(v) => s.push_str(&format!("[={v}]")),
            Pe::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The FieldsV1 key of a path element (`f:name`, `k:{"name":"api"}`, `v:"x"`, `i:0`).
fn fields_v1_key(pe: &Pe) -> String {
    match pe {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(kv) => {
            let parts: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                .collect();
            format!("k:{{{}}}", parts.join(","))
        }
        Pe::Value(v) => format!("v:{v}"),
        Pe::Index(i) => format!("i:{i}"),
    }
}

fn parse_fields_v1_key(key: &str) -> Result<Pe, String> {
    let (prefix, rest) = key
        .split_once(':')
        .ok_or_else(|| format!("FieldsV1 key {key:?} has no prefix"))?;
    match prefix {
        "f" => Ok(Pe::Field(rest.to_string())),
        "k" => {
            let map: Map<String, Value> =
                serde_json::from_str(rest).map_err(|e| format!("FieldsV1 key {key:?}: {e}"))?;
            let mut kv: Vec<(String, String)> =
                map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            kv.sort();
            Ok(Pe::Key(kv))
        }
        "v" => {
            let v: Value =
                serde_json::from_str(rest).map_err(|e| format!("FieldsV1 key {key:?}: {e}"))?;
            Ok(Pe::Value(v.to_string()))
        }
        "i" => rest
            .parse()
            .map(Pe::Index)
            .map_err(|e| format!("FieldsV1 key {key:?}: {e}")),
        _ => Err(format!("FieldsV1 key {key:?}: unknown prefix")),
    }
}

/// A field set in the API's FieldsV1 form (`{"f:spec":{"f:replicas":{}}}`; `.` marks a
/// path that is itself owned and has owned children).
pub(super) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut node = &mut root;
        for pe in path {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(fields_v1_key(pe))
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    for path in set {
        let mut node = &mut root;
        for pe in path {
            node = node.get_mut(fields_v1_key(pe)).unwrap();
        }
        let obj = node.as_object_mut().unwrap();
        if !obj.is_empty() && !obj.contains_key(".") {
            obj.insert(".".into(), Value::Object(Map::new()));
        }
    }
    root
}

pub(super) fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
    fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) -> Result<(), String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("FieldsV1 at {} is not an object", path_string(path)))?;
        for (k, child) in obj {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(parse_fields_v1_key(k)?);
            if child.as_object().is_some_and(Map::is_empty) {
                out.insert(path.clone());
            } else {
                walk(child, path, out)?;
            }
            path.pop();
        }
        Ok(())
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// List key fields the API defaults, so an element may leave them out (the 1.32 OpenAPI's
/// `default: "TCP"` on ContainerPort.protocol and ServicePort.protocol).
const DEFAULTED_KEYS: &[(&str, &str)] = &[("protocol", "\"TCP\"")];

/// The key of a keyed-list element, or the name of the key field it lacks.
pub(super) fn key_of(item: &Value, keys: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut kv = Vec::new();
    for k in keys {
        match item.get(k).filter(|v| !v.is_null()) {
            Some(v) => kv.push((k.clone(), v.to_string())),
            None => match DEFAULTED_KEYS.iter().find(|(name, _)| name == k) {
                Some((_, default)) => kv.push((k.clone(), default.to_string())),
                None => return Err(k.clone()),
            },
        }
    }
    kv.sort();
    Ok(kv)
}

/// A node's shape; `None` (no schema: a custom resource) merges like structured-merge-diff's
/// deduced type.
fn shape<'a>(s: &'a Schemas, schema: Option<&'a Value>) -> Option<Shape<'a>> {
    schema.map(|node| s.shape(node))
}

/// The schema of a child of `schema` reached by `pe`.
fn child_schema<'a>(s: &'a Schemas, schema: Option<&'a Value>, pe: &Pe) -> Option<&'a Value> {
    match (shape(s, schema)?, pe) {
        (Shape::Struct { props, .. }, Pe::Field(f)) => props.get(f),
        (Shape::Map { elem, .. }, Pe::Field(_)) => Some(elem),
        (Shape::List { elem, .. }, _) => Some(elem),
        _ => None,
    }
}

/// Go's `%T` of a decoded JSON value (structured-merge-diff's numeric error).
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// What the API server's typed conversion of an applied object says is wrong with it
/// (structured-merge-diff's messages): unknown fields, wrong types, keyed-list elements
/// without their key or with a duplicate key.
pub(super) fn type_errors(s: &Schemas, value: &Value, schema: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(s, value, schema, &mut Vec::new(), &mut errors);
    errors
}

fn check(s: &Schemas, value: &Value, schema: &Value, path: &mut Path, errors: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let at = path_string(path);
    match s.shape(schema) {
        Shape::Untyped => {}
        Shape::Scalar(types) => {
            let ok = match value {
                Value::String(_) => types.contains(&"string"),
                Value::Bool(_) => types.contains(&"boolean"),
                Value::Number(_) => types.contains(&"integer") || types.contains(&"number"),
                _ => false,
            };
            if !ok {
                let numeric = types.contains(&"integer") || types.contains(&"number");
                errors.push(if types.len() > 1 {
                    format!("{at}: expected any scalar, got {value}")
                } else if numeric {
                    format!(
                        "{at}: expected numeric (int or float), got {}",
                        go_type(value)
                    )
                } else if types.contains(&"boolean") {
                    format!("{at}: expected boolean, got &{{{value}}}")
                } else {
                    format!("{at}: expected string, got &value.valueUnstructured{{Value:{value}}}")
                });
            }
        }
        Shape::Struct { props, .. } => {
            let Some(obj) = value.as_object() else {
                errors.push(format!("{at}: expected map, got {value}"));
                return;
            };
            for (k, v) in obj {
                path.push(Pe::Field(k.clone()));
                match props.get(k) {
                    Some(child) => check(s, v, child, path, errors),
                    None => errors.push(format!(
                        "{}: field not declared in schema",
                        path_string(path)
                    )),
                }
                path.pop();
            }
        }
        Shape::Map { elem, .. } => {
            let Some(obj) = value.as_object() else {
                errors.push(format!("{at}: expected map, got {value}"));
                return;
            };
            for (k, v) in obj {
                path.push(Pe::Field(k.clone()));
                check(s, v, elem, path, errors);
                path.pop();
            }
        }
        Shape::List { elem, kind } => {
            let Some(items) = value.as_array() else {
                errors.push(format!("{at}: expected list, got {value}"));
                return;
            };
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = match &kind {
                    ListKind::Map(keys) => match key_of(item, keys) {
                        Ok(kv) => Pe::Key(kv),
                        Err(missing) => {
                            errors.push(format!(
                                "{at}: element {i}: associative list with keys has an element that omits key field {missing:?} (and doesn't have default value)"
                            ));
                            continue;
                        }
                    },
                    ListKind::Set => Pe::Value(item.to_string()),
                    ListKind::Atomic => Pe::Index(i),
                };
                if kind != ListKind::Atomic && !seen.insert(pe.clone()) {
                    errors.push(format!(
                        "{at}: duplicate entries for key {}",
                        path_string(std::slice::from_ref(&pe))
                    ));
                    continue;
                }
                path.push(pe);
                check(s, item, elem, path, errors);
                path.pop();
            }
        }
    }
}

/// `required` fields missing from an object, as the API's validation names them
/// (`spec.template.spec.containers[0].image`).
pub(super) fn missing_required(s: &Schemas, value: &Value, schema: &Value) -> Vec<String> {
    fn walk(s: &Schemas, value: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
        let child = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            }
        };
        match s.shape(schema) {
            Shape::Struct {
                props, required, ..
            } => {
                let Some(obj) = value.as_object() else { return };
                for r in required {
                    if obj.get(r).is_none_or(Value::is_null) {
                        out.push(format!("{}: Required value", child(r)));
                    }
                }
                for (k, v) in obj {
                    if let Some(p) = props.get(k) {
                        walk(s, v, p, &child(k), out);
                    }
                }
            }
            Shape::Map { elem, .. } => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    walk(s, v, elem, &format!("{at}[{k}]"), out);
                }
            }
            Shape::List { elem, .. } => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    walk(s, v, elem, &format!("{at}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(s, value, schema, "", &mut out);
    out
}

/// One member of an object's field set: its value, and whether it is a leaf (a scalar, or
/// an atomic value owned as a whole) rather than a map entry or list element with members.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub value: Value,
    pub leaf: bool,
}

/// Every member of an object's field set, as structured-merge-diff's ToFieldSet has them.
pub(super) fn entries(s: &Schemas, value: &Value, schema: Option<&Value>) -> BTreeMap<Path, Entry> {
    let mut out = BTreeMap::new();
    walk(s, value, schema, &mut Vec::new(), &mut out);
    out
}

fn leaf(out: &mut BTreeMap<Path, Entry>, path: &Path, value: &Value) {
    if !path.is_empty() {
        out.insert(
            path.clone(),
            Entry {
                value: value.clone(),
                leaf: true,
            },
        );
    }
}

fn member(out: &mut BTreeMap<Path, Entry>, path: &Path, value: &Value) {
    out.entry(path.clone()).or_insert_with(|| Entry {
        value: value.clone(),
        leaf: false,
    });
}

fn walk(
    s: &Schemas,
    value: &Value,
    schema: Option<&Value>,
    path: &mut Path,
    out: &mut BTreeMap<Path, Entry>,
) {
    if value.is_null() {
        return;
    }
    let Some(sh) = shape(s, schema) else {
        // Deduced: objects field by field, everything else as a whole.
        match value.as_object() {
            Some(obj) => {
                for (k, v) in obj {
                    path.push(Pe::Field(k.clone()));
                    if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
                        leaf(out, path, v);
                    } else {
                        walk(s, v, None, path, out);
                        member(out, path, v);
                    }
                    path.pop();
                }
            }
            None => leaf(out, path, value),
        }
        return;
    };
    match sh {
        Shape::Scalar(_) | Shape::Untyped => leaf(out, path, value),
        Shape::Struct { atomic: true, .. } | Shape::Map { atomic: true, .. } => {
            leaf(out, path, value)
        }
        Shape::List {
            kind: ListKind::Atomic,
            ..
        } => leaf(out, path, value),
        Shape::Struct { props, .. } => {
            for (k, v) in value.as_object().into_iter().flatten() {
                path.push(Pe::Field(k.clone()));
                if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
                    leaf(out, path, v);
                } else {
                    walk(s, v, props.get(k), path, out);
                }
                path.pop();
            }
        }
        Shape::Map { elem, .. } => {
            for (k, v) in value.as_object().into_iter().flatten() {
                path.push(Pe::Field(k.clone()));
                walk(s, v, Some(elem), path, out);
                member(out, path, v);
                path.pop();
            }
        }
        Shape::List { elem, kind } => {
            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                let pe = match &kind {
                    ListKind::Map(keys) => match key_of(item, keys) {
                        Ok(kv) => Pe::Key(kv),
                        Err(_) => Pe::Index(i),
                    },
                    ListKind::Set => Pe::Value(item.to_string()),
                    ListKind::Atomic => unreachable!(),
                };
                path.push(pe);
                walk(s, item, Some(elem), path, out);
                member(out, path, item);
                path.pop();
            }
        }
    }
}

/// The live object with an applied configuration merged in: the configuration's values
/// win; fields it does not mention stay; keyed lists merge element by element, sets by
/// value, atomic values are replaced whole.
pub(super) fn merge<'a>(
    s: &'a Schemas,
    live: &Value,
    config: &Value,
    schema: Option<&'a Value>,
) -> Value {
    if config.is_null() || live.is_null() {
        return config.clone();
    }
    fn granular_object<'a>(
        s: &'a Schemas,
        live: &Value,
        config: &Value,
        child: &dyn Fn(&str) -> Option<&'a Value>,
    ) -> Value {
        let (Some(l), Some(c)) = (live.as_object(), config.as_object()) else {
            return config.clone();
        };
        let mut out = l.clone();
        for (k, cv) in c {
            let merged = match l.get(k) {
                Some(lv) => merge(s, lv, cv, child(k)),
                None => cv.clone(),
            };
            out.insert(k.clone(), merged);
        }
        Value::Object(out)
    }
    match shape(s, schema) {
        None => {
            if live.is_object() && config.is_object() {
                granular_object(s, live, config, &|_| None)
            } else {
                config.clone()
            }
        }
        Some(Shape::Struct {
            props,
            atomic: false,
            ..
        }) => granular_object(s, live, config, &|k| props.get(k)),
        Some(Shape::Map {
            elem,
            atomic: false,
        }) => granular_object(s, live, config, &|_| Some(elem)),
        Some(Shape::List {
            elem,
            kind: ListKind::Map(keys),
        }) => {
            let (Some(l), Some(c)) = (live.as_array(), config.as_array()) else {
                return config.clone();
            };
            let mut out: Vec<Value> = Vec::new();
            for li in l {
                let lk = key_of(li, &keys).ok();
                let matching = c
                    .iter()
                    .find(|ci| lk.is_some() && key_of(ci, &keys).ok() == lk);
                out.push(match matching {
                    Some(ci) => merge(s, li, ci, Some(elem)),
                    None => li.clone(),
                });
            }
            for ci in c {
                let ck = key_of(ci, &keys).ok();
                if !l
                    .iter()
                    .any(|li| ck.is_some() && key_of(li, &keys).ok() == ck)
                {
                    out.push(ci.clone());
                }
            }
            Value::Array(out)
        }
        Some(Shape::List {
            kind: ListKind::Set,
            ..
        }) => {
            let (Some(l), Some(c)) = (live.as_array(), config.as_array()) else {
                return config.clone();
            };
            let mut out = l.clone();
            for ci in c {
                if !out.contains(ci) {
                    out.push(ci.clone());
                }
            }
            Value::Array(out)
        }
        Some(_) => config.clone(),
    }
}

/// Removes the member at `path` (a field, map entry or list element) from `value`; a map
/// left empty goes too, as the API's typed objects drop empty maps.
pub(super) fn remove(s: &Schemas, value: &mut Value, schema: Option<&Value>, path: &[Pe]) {
    remove_rec(s, value, schema, path);
}

fn is_map_shape(s: &Schemas, schema: Option<&Value>) -> bool {
    matches!(shape(s, schema), Some(Shape::Map { .. }))
}

fn remove_rec(s: &Schemas, value: &mut Value, schema: Option<&Value>, path: &[Pe]) -> bool {
    let Some((pe, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        remove_child(value, pe);
    } else {
        let child_s = child_schema(s, schema, pe);
        let drop = match child_mut(value, pe) {
            Some(child) => remove_rec(s, child, child_s, rest),
            None => false,
        };
        if drop {
            remove_child(value, pe);
        }
    }
    is_map_shape(s, schema) && value.as_object().is_some_and(Map::is_empty)
}

fn matches_pe(item: &Value, index: usize, pe: &Pe) -> bool {
    match pe {
        Pe::Key(kv) => {
            let keys: Vec<String> = kv.iter().map(|(k, _)| k.clone()).collect();
            key_of(item, &keys).ok().as_ref() == Some(kv)
        }
        Pe::Value(v) => &item.to_string() == v,
        Pe::Index(i) => *i == index,
        Pe::Field(_) => false,
    }
}

fn remove_child(value: &mut Value, pe: &Pe) {
    match (value, pe) {
        (Value::Object(obj), Pe::Field(f)) => {
            obj.remove(f);
        }
        (Value::Array(items), pe) => {
            let mut i = 0;
            items.retain(|item| {
                let keep = !matches_pe(item, i, pe);
                i += 1;
                keep
            });
        }
        _ => {}
    }
}

fn child_mut<'v>(value: &'v mut Value, pe: &Pe) -> Option<&'v mut Value> {
    match (value, pe) {
        (Value::Object(obj), Pe::Field(f)) => obj.get_mut(f),
        (Value::Array(items), pe) => items
            .iter_mut()
            .enumerate()
            .find(|(i, item)| matches_pe(item, *i, pe))
            .map(|(_, item)| item),
        _ => None,
    }
}

/// What changed between two versions of an object, by field path.
pub(super) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

pub(super) fn compare(old: &BTreeMap<Path, Entry>, new: &BTreeMap<Path, Entry>) -> Comparison {
    let mut c = Comparison {
        added: FieldSet::new(),
        modified: FieldSet::new(),
        removed: FieldSet::new(),
    };
    for (path, entry) in new {
        match old.get(path) {
            None => {
                c.added.insert(path.clone());
            }
            Some(before) if entry.leaf && before.value != entry.value => {
                c.modified.insert(path.clone());
            }
            Some(_) => {}
        }
    }
    for path in old.keys() {
        if !new.contains_key(path) {
            c.removed.insert(path.clone());
        }
    }
    c
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug)]
pub(super) struct Manager {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    pub time: String,
    pub set: FieldSet,
}

impl Manager {
    pub(super) fn same(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// How the API server names a manager in a conflict (fieldmanager's printManager).
    pub(super) fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {} at {}", self.api_version, self.time));
        }
        s
    }
}

pub(super) fn managers_of(live: &Value) -> Vec<Manager> {
    live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Manager {
            manager: m["manager"].as_str().unwrap_or_default().to_string(),
            operation: m["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: m["apiVersion"].as_str().unwrap_or_default().to_string(),
            subresource: m["subresource"].as_str().map(str::to_string),
            time: m["time"].as_str().unwrap_or_default().to_string(),
            set: from_fields_v1(&m["fieldsV1"]).unwrap_or_else(|e| panic!("{e}")),
        })
        .collect()
}

pub(super) fn managed_fields(managers: &[Manager]) -> Value {
    Value::Array(
        managers
            .iter()
            .map(|m| {
                let mut entry = serde_json::json!({
                    "manager": m.manager, "operation": m.operation, "apiVersion": m.api_version,
                    "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&m.set),
                });
                if let Some(sub) = &m.subresource {
                    entry["subresource"] = sub.clone().into();
                }
                entry
            })
            .collect(),
    )
}

/// Whether `path` or anything below it is in `set`.
pub(super) fn owns_within(set: &FieldSet, path: &Path) -> bool {
    set.range(path.clone()..)
        .next()
        .is_some_and(|p| p.starts_with(path))
}
