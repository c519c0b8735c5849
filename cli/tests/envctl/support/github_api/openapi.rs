//! GitHub's published REST API description (npm `@octokit/openapi`,
//! `generated/api.github.com.json`, OpenAPI 3.0), as the GitHub stand-in uses it: which
//! operation a request is (path template and method), the operation's parameters and
//! request body schema, and the schemas its answers must satisfy. The file is installed by
//! .ci/test.sh (`npm ci` in .ci/npm; `ENVCTL_GITHUB_OPENAPI` names it) and read once per
//! test process.
//!
//! OpenAPI 3.0 schemas are JSON Schema with `nullable`; they are turned into plain JSON
//! Schema (`nullable: true` adds `null`) and closed over their `$ref`s before validation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

pub(crate) struct Spec {
    doc: Value,
    /// (path template split on `/`, the path item's key).
    routes: Vec<(Vec<String>, String)>,
}

static SPEC: OnceLock<Result<Spec, String>> = OnceLock::new();

/// The description, loaded on first use; panics (in the test, saying what to do) when the
/// npm package is not installed.
pub(crate) fn get() -> &'static Spec {
    match SPEC.get_or_init(load) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn load() -> Result<Spec, String> {
    let path = std::env::var_os("ENVCTL_GITHUB_OPENAPI")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            super::super::repo_root()
                .join(".ci/npm/node_modules/@octokit/openapi/generated/api.github.com.json")
        });
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "GitHub's OpenAPI description {} is needed by the GitHub API stand-in ({e}): run .ci/test.sh, or `npm ci --prefix .ci/npm`",
            path.display()
        )
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if !doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.0"))
    {
        return Err(format!("{}: not an OpenAPI 3.0 document", path.display()));
    }
    let routes = doc["paths"]
        .as_object()
        .ok_or("no paths")?
        .keys()
        .map(|k| (k.split('/').map(str::to_string).collect(), k.clone()))
        .collect();
    Ok(Spec { doc, routes })
}

/// A request matched to its operation.
pub(crate) struct Operation<'a> {
    pub id: String,
    pub op: &'a Value,
    pub path_params: BTreeMap<String, String>,
}

impl Spec {
    /// The operation for `method` on `path`, preferring literal segments over templates
    /// (as GitHub's router does: `/pulls/comments` is not `/pulls/{pull_number}`).
    /// `Err` says what is wrong: no such path, or no such method on it.
    pub(crate) fn operation(&self, method: &str, path: &str) -> Result<Operation<'_>, String> {
        let segs: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &String, BTreeMap<String, String>)> = None;
        for (template, key) in &self.routes {
            if template.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let mut params = BTreeMap::new();
            let ok = template.iter().zip(&segs).all(|(t, s)| {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    params.insert(name.to_string(), s.to_string());
                    !s.is_empty()
                } else {
                    literal += 1;
                    t == s
                }
            });
            if ok && best.as_ref().is_none_or(|(l, _, _)| literal > *l) {
                best = Some((literal, key, params));
            }
        }
        let (_, key, path_params) =
            best.ok_or_else(|| format!("no operation of GitHub's REST API has the path {path}"))?;
        let op = &self.doc["paths"][key][method.to_lowercase()];
        if !op.is_object() {
            return Err(format!(
                "{key} has no {method} operation in GitHub's REST API"
            ));
        }
        Ok(Operation {
            id: op["operationId"].as_str().unwrap_or_default().to_string(),
            op,
            path_params,
        })
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => self.resolve(self.pointer(r)),
            None => v,
        }
    }

    fn pointer(&self, r: &str) -> &Value {
        self.doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r} in GitHub's description"))
    }

    /// Every problem with the request's parameters and body, by the operation's definition.
    pub(crate) fn check_request(
        &self,
        op: &Operation<'_>,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let params: Vec<&Value> = op.op["parameters"]
            .as_array()
            .map(|a| a.iter().map(|p| self.resolve(p)).collect())
            .unwrap_or_default();
        let check_value = |name: &str, text: &str, schema: &Value, problems: &mut Vec<String>| {
            let value = match schema["type"].as_str() {
                Some("integer") => match text.parse::<i64>() {
                    Ok(n) => json!(n),
                    Err(_) => {
                        problems.push(format!("parameter {name}: `{text}` is not an integer"));
                        return;
                    }
                },
                Some("boolean") => json!(text == "true"),
                _ => json!(text),
            };
            for e in self.validate(schema, &value) {
                problems.push(format!("parameter {name}: {e}"));
            }
        };
        for p in &params {
            let name = p["name"].as_str().unwrap_or_default();
            match p["in"].as_str() {
                Some("path") => match op.path_params.get(name) {
                    Some(v) => check_value(name, v, &p["schema"], &mut problems),
                    None => problems.push(format!("path parameter {name} missing")),
                },
                Some("query") => {
                    let given: Vec<&String> = query
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v)
                        .collect();
                    if given.is_empty() && p["required"] == true {
                        problems.push(format!("required query parameter {name} missing"));
                    }
                    for v in given {
                        check_value(name, v, &p["schema"], &mut problems);
                    }
                }
                _ => {}
            }
        }
        let known: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for (k, _) in query {
            if !known.contains(k.as_str()) {
                problems.push(format!("unknown query parameter {k} for {}", op.id));
            }
        }
        let request_body = self.resolve(&op.op["requestBody"]);
        if request_body.is_null() {
            if !body.is_empty() {
                problems.push(format!("{} takes no request body", op.id));
            }
            return problems;
        }
        if body.is_empty() {
            if request_body["required"] == true {
                problems.push(format!("{} requires a request body", op.id));
            }
            return problems;
        }
        if !content_type.is_some_and(|c| c.starts_with("application/json")) {
            problems.push(format!(
                "{}: Content-Type {content_type:?}, expected application/json",
                op.id
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Err(e) => problems.push(format!("request body is not JSON: {e}")),
            Ok(value) => {
                let schema = &request_body["content"]["application/json"]["schema"];
                for e in self.validate(schema, &value) {
                    problems.push(format!("request body: {e}"));
                }
            }
        }
        problems
    }

    /// The JSON schema of the operation's `status` answer.
    pub(crate) fn response_schema<'a>(&'a self, op: &Operation<'a>, status: u16) -> &'a Value {
        let response = self.resolve(&op.op["responses"][status.to_string()]);
        assert!(
            response.is_object(),
            "{} has no documented {status} response",
            op.id
        );
        &response["content"]["application/json"]["schema"]
    }

    /// A documented example (`components/examples/NAME`), to answer with.
    pub(crate) fn example(&self, name: &str) -> Value {
        self.doc["components"]["examples"][name]["value"].clone()
    }

    /// Validation errors of `value` against an OpenAPI schema (empty: valid).
    pub(crate) fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let closed = self.close(schema);
        let validator = jsonschema::validator_for(&closed)
            .unwrap_or_else(|e| panic!("GitHub's schema does not compile: {e}"));
        validator
            .iter_errors(value)
            .map(|e| format!("{} at `{}`", e, e.instance_path()))
            .collect()
    }

    /// `schema` as a self-contained JSON Schema: every `#/components/schemas/X` it reaches
    /// copied under `$defs`, `nullable` turned into `null` types.
    fn close(&self, schema: &Value) -> Value {
        let mut defs = Map::new();
        let mut todo: Vec<String> = Vec::new();
        let mut root = convert(schema, &mut todo);
        while let Some(name) = todo.pop() {
            if defs.contains_key(&name) {
                continue;
            }
            defs.insert(name.clone(), Value::Null);
            let def = convert(&self.doc["components"]["schemas"][&name], &mut todo);
            defs.insert(name, def);
        }
        if let Value::Object(m) = &mut root {
            m.insert("$defs".into(), Value::Object(defs));
        } else {
            root = json!({ "allOf": [root], "$defs": defs });
        }
        root
    }
}

/// OpenAPI 3.0 schema -> JSON Schema, collecting referenced component schemas.
fn convert(v: &Value, todo: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                match k.as_str() {
                    "$ref" => {
                        let r = val.as_str().unwrap_or_default();
                        let name = r
                            .strip_prefix("#/components/schemas/")
                            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
                        todo.push(name.to_string());
                        out.insert(k.clone(), json!(format!("#/$defs/{name}")));
                    }
                    // Documentation only; `example` values need not match the schema.
                    "example" | "examples" | "nullable" | "discriminator" | "xml"
                    | "externalDocs" => {}
                    // Keys of `properties` are names, not keywords.
                    "properties" => {
                        let props = val
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(n, s)| (n.clone(), convert(s, todo)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), convert(val, todo));
                    }
                }
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = out.get_mut("enum") {
                        e.push(Value::Null);
                    }
                } else {
                    return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| convert(x, todo)).collect()),
        other => other.clone(),
    }
}
