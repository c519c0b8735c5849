//! How a live object differs from what envctl applies: every field of the rendered object
//! (envctl's applied configuration) must hold the same value in the cluster. Fields the
//! rendered object does not set (defaults, status, a Deployment's replicas that an
//! autoscaler owns) are not envctl's and are never compared. This deliberately does not
//! go by `managedFields`: `kubectl edit` moves a field's ownership to the editor, and an
//! ownership-based diff would miss exactly that edit.

use serde_json::Value;

/// Keys that identify the entries of a list of objects (containers, env, ports, volumes):
/// entries are matched by these rather than by position, and entries another manager
/// added (a sidecar) are not envctl's.
const LIST_KEYS: &[&str] = &["name", "containerPort", "port", "mountPath", "key", "type"];

/// Metadata the API server or controllers set on every object.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// The differences, each `path: rendered X, live Y` (or `live: (missing)`).
pub fn differences(rendered: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", rendered, live, &mut out);
    out
}

fn walk(path: &str, want: &Value, have: &Value, out: &mut Vec<String>) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (key, wv) in w {
                if path == ".metadata" && SERVER_METADATA.contains(&key.as_str()) {
                    continue;
                }
                let sub = format!("{path}.{key}");
                match h.get(key) {
                    Some(hv) => walk(&sub, wv, hv, out),
                    None if is_empty(wv) => {}
                    None => out.push(format!(
                        "{}: rendered {}, live (missing)",
                        trim(&sub),
                        short(wv)
                    )),
                }
            }
        }
        (Value::Array(w), Value::Array(h)) => {
            let key = list_key(w);
            match key {
                Some(key) => {
                    for wv in w {
                        let id = &wv[key];
                        let sub = format!(
                            "{path}[{key}={}]",
                            id.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| id.to_string())
                        );
                        match h.iter().find(|hv| &hv[key] == id) {
                            Some(hv) => walk(&sub, wv, hv, out),
                            None => out.push(format!(
                                "{}: rendered {}, live (missing)",
                                trim(&sub),
                                short(wv)
                            )),
                        }
                    }
                }
                None if w.len() != h.len() => out.push(format!(
                    "{}: rendered {}, live {}",
                    trim(path),
                    short(want),
                    short(have)
                )),
                None => {
                    for (i, (wv, hv)) in w.iter().zip(h).enumerate() {
                        walk(&format!("{path}[{i}]"), wv, hv, out);
                    }
                }
            }
        }
        (w, h) if scalars_equal(w, h) => {}
        (w, h) => out.push(format!(
            "{}: rendered {}, live {}",
            trim(path),
            short(w),
            short(h)
        )),
    }
}

/// The key that identifies every entry of a list of objects, if there is one.
fn list_key(list: &[Value]) -> Option<&'static str> {
    if list.is_empty() || !list.iter().all(Value::is_object) {
        return None;
    }
    LIST_KEYS
        .iter()
        .copied()
        .find(|k| {
            list.iter()
                .all(|v| v.get(*k).is_some_and(|id| !id.is_null()))
        })
        .filter(|k| {
            let mut ids: Vec<String> = list.iter().map(|v| v[*k].to_string()).collect();
            ids.sort();
            ids.dedup();
            ids.len() == list.len()
        })
}

/// The API server stores numbers as numbers and quantities as it got them; a YAML
/// integer rendered as `80` and stored as `80.0` (or the reverse) is the same value.
fn scalars_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn trim(path: &str) -> &str {
    path.trim_start_matches('.')
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_rendered_fields_count_and_lists_match_by_name() {
        let rendered = json!({
            "metadata": { "name": "api", "labels": { "a": "1" } },
            "spec": { "template": { "spec": { "containers": [
                { "name": "api", "image": "rates:1", "ports": [{ "containerPort": 8080 }] }
            ] } } }
        });
        let live = json!({
            "metadata": { "name": "api", "labels": { "a": "1", "b": "2" }, "resourceVersion": "9" },
            "spec": { "replicas": 7, "template": { "spec": { "containers": [
                { "name": "sidecar", "image": "x" },
                { "name": "api", "image": "rates:1", "imagePullPolicy": "IfNotPresent",
                  "ports": [{ "containerPort": 8080, "protocol": "TCP" }] }
            ] } } },
            "status": { "replicas": 7 }
        });
        assert!(differences(&rendered, &live).is_empty());
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][1]["image"] = json!("rates:evil");
        assert_eq!(
            differences(&rendered, &edited),
            ["spec.template.spec.containers[name=api].image: rendered \"rates:1\", live \"rates:evil\""]
        );
        let mut removed = live;
        removed["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("a");
        assert_eq!(
            differences(&rendered, &removed),
            ["metadata.labels.a: rendered \"1\", live (missing)"]
        );
    }
}
