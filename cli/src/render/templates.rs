//! `Templates`: every minijinja template under `templates/`, loaded once, with the filters
//! the templates use to write safe HCL and YAML.

use std::path::{Path, PathBuf};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::{Error, Result};

/// The loaded templates of one project.
pub struct Templates {
    env: Environment<'static>,
    names: Vec<String>,
}

impl Templates {
    /// Loads every `*.j2` file under `dir` (names are paths relative to `dir`, `/`-separated).
    pub fn load(dir: &Path) -> Result<Templates> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        // Templates quote explicitly (`tojson`, `hcl`): no automatic escaping.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.add_filter("hcl", hcl_filter);
        // Dashboard metric rows for RDS instances: `db_rows(ids, "CPUUtilization")`.
        env.add_function("db_rows", |ids: Vec<String>, metric: String| {
            let rows: Vec<serde_json::Value> = ids
                .iter()
                .map(|id| serde_json::json!(["AWS/RDS", metric, "DBInstanceIdentifier", id, {"label": id}]))
                .collect();
            Value::from_serialize(rows)
        });
        env.add_filter("hcl_map", hcl_map_filter);
        env.add_filter(
            "json_compact",
            |v: Value| -> std::result::Result<String, minijinja::Error> {
                serde_json::to_string(&v).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })
            },
        );

        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort();
        let mut names = Vec::new();
        for (name, path) in files {
            let source = std::fs::read_to_string(&path)
                .map_err(Error::io(format!("reading template {}", path.display())))?;
            env.add_template_owned(name.clone(), source)
                .map_err(|e| template_error(&name, &e))?;
            names.push(name);
        }
        Ok(Templates { env, names })
    }

    /// Names of the templates under `prefix/` (not partials: files whose name starts with `_`).
    pub fn under(&self, prefix: &str) -> Vec<&str> {
        self.names
            .iter()
            .filter(|n| n.starts_with(&format!("{prefix}/")))
            .filter(|n| !n.rsplit('/').next().unwrap_or("").starts_with('_'))
            .map(String::as_str)
            .collect()
    }

    /// Renders one template with `context`.
    pub fn render(&self, name: &str, context: &Value) -> Result<String> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        template
            .render(context)
            .map_err(|e| template_error(name, &e))
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(Error::io(format!("reading {}", dir.display())))?
            .path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "j2") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push((super::rendered::slash_path(rel), path.clone()));
        }
    }
    Ok(())
}

fn template_error(name: &str, err: &minijinja::Error) -> Error {
    let mut message = err.to_string();
    if let Some(line) = err.line() {
        message = format!("line {line}: {message}");
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Template {
        template: name.to_string(),
        message,
    }
}

/// An HCL string literal: JSON escaping plus `$${` / `%%{` so values never interpolate.
fn hcl_string(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("strings serialize");
    quoted.replace("${", "$${").replace("%{", "%%{")
}

/// Any JSON-like value as an HCL expression (strings, numbers, bools, lists, objects).
fn hcl_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => hcl_string(s),
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(hcl_value).collect::<Vec<_>>().join(", ")
            )
        }
        serde_json::Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_value(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

fn to_json(v: &Value) -> std::result::Result<serde_json::Value, minijinja::Error> {
    serde_json::to_value(v)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// `{{ value|hcl }}`: the value as an HCL literal.
fn hcl_filter(v: Value) -> std::result::Result<String, minijinja::Error> {
    Ok(hcl_value(&to_json(&v)?))
}

/// `{{ map|hcl_map(4) }}`: a multi-line HCL object with `=` aligned the way `terraform fmt`
/// aligns it; `indent` is the indentation of the keys, the closing brace gets two less.
fn hcl_map_filter(v: Value, indent: usize) -> std::result::Result<String, minijinja::Error> {
    let json = to_json(&v)?;
    let Some(map) = json.as_object() else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "hcl_map needs a map",
        ));
    };
    if map.is_empty() {
        return Ok("{}".into());
    }
    let keys: Vec<String> = map.keys().map(|k| hcl_string(k)).collect();
    let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
    let mut out = String::from("{\n");
    for (key, value) in keys.iter().zip(map.values()) {
        out.push_str(&format!(
            "{:indent$}{key:<width$} = {}\n",
            "",
            hcl_value(value)
        ));
    }
    out.push_str(&format!(
        "{:close$}}}",
        "",
        close = indent.saturating_sub(2)
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_never_interpolate() {
        assert_eq!(hcl_string("a${b}%{c}\"d"), r#""a$${b}%%{c}\"d""#);
    }

    #[test]
    fn hcl_maps_align_like_terraform_fmt() {
        let v = Value::from_serialize(serde_json::json!({"A": "1", "Long": "2"}));
        assert_eq!(
            hcl_map_filter(v, 4).unwrap(),
            "{\n    \"A\"    = \"1\"\n    \"Long\" = \"2\"\n  }"
        );
    }
}
