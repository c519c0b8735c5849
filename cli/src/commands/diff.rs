//! `envctl diff A B`: how two environments differ, first as profile values (after
//! `extends:`), then as rendered files (unified diffs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};
use similar::TextDiff;

use crate::cli::DiffArgs;
use crate::context::Context;
use crate::profile::Profile;
use crate::render::{self, slash_path, Templates};
use crate::{Error, Result};

/// One profile key whose values differ (`None`: the key is absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueChange {
    pub key: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

/// Prints the differences between `args.a` and `args.b`.
pub fn run(ctx: &Context, args: &DiffArgs) -> Result<ExitCode> {
    let a = Profile::load(&ctx.root, &args.a)?;
    let b = Profile::load(&ctx.root, &args.b)?;
    let changes = profile_changes(&a, &b)?;
    let templates = Templates::load(&ctx.root.join("templates"))?;
    let ra = render::render_with(&ctx.root, &templates, &a)?;
    let rb = render::render_with(&ctx.root, &templates, &b)?;

    let mut text = format!("# profile values ({} -> {})\n", a.name, b.name);
    if changes.is_empty() {
        text.push_str("(no differences)\n");
    }
    for c in &changes {
        text.push_str(&format!("{}: {} -> {}\n", c.key, show(&c.a), show(&c.b)));
    }

    let paths: std::collections::BTreeSet<&PathBuf> =
        ra.files.keys().chain(rb.files.keys()).collect();
    let mut files = Vec::new();
    text.push_str(&format!("\n# rendered files ({} -> {})\n", a.name, b.name));
    for path in paths {
        let name = slash_path(path);
        let (fa, fb) = (ra.files.get(path), rb.files.get(path));
        let (status, diff) = match (fa, fb) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => ("changed".to_string(), unified(x, y, &name, &a, &b)),
            (Some(x), None) => (format!("only in {}", a.name), unified(x, "", &name, &a, &b)),
            (None, Some(y)) => (format!("only in {}", b.name), unified("", y, &name, &a, &b)),
            (None, None) => continue,
        };
        text.push_str(&diff);
        files.push(json!({ "path": name, "status": status, "diff": diff }));
    }
    if files.is_empty() {
        text.push_str("(no differences)\n");
    }
    let changes_json: Vec<Value> = changes
        .iter()
        .map(|c| json!({ "key": c.key, "a": c.a, "b": c.b }))
        .collect();
    ctx.ui.result(
        &text,
        &json!({ "a": a.name.as_str(), "b": b.name.as_str(), "profile": changes_json, "files": files }),
    );
    Ok(ExitCode::SUCCESS)
}

fn unified(x: &str, y: &str, name: &str, a: &Profile, b: &Profile) -> String {
    TextDiff::from_lines(x, y)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{}/{name}", a.name), &format!("{}/{name}", b.name))
        .to_string()
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(v) => v.to_string(),
    }
}

/// Every key (dotted path) whose value differs between the two merged profiles.
/// The environments' own names are left out: they always differ.
pub fn profile_changes(a: &Profile, b: &Profile) -> Result<Vec<ValueChange>> {
    let to_json = |p: &Profile| {
        serde_json::to_value(p).map_err(|e| Error::Rendered {
            what: "profile".into(),
            message: e.to_string(),
        })
    };
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &to_json(a)?, &mut fa);
    flatten("", &to_json(b)?, &mut fb);
    fa.remove("name");
    fb.remove("name");
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    Ok(keys
        .into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| ValueChange {
            key: k.clone(),
            a: fa.get(k).cloned(),
            b: fb.get(k).cloned(),
        })
        .collect())
}

/// Flattens nested objects into `a.b.c` keys; lists stay whole (they replace, not merge).
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}
