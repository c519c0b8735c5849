//! Finds profile files, follows `extends:` chains (deep merge, lists replace), and turns
//! the merged tree into a typed [`Profile`], mapping every error back to file, line and key.

use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

use super::document::{display_path, parse_path, Entry, Node, NodeKind, Origin, PathSegment};
use super::{validate, EnvironmentName, Profile, ProfileBody};
use crate::{Error, Result};

/// The directory holding the profiles.
pub(super) fn environments_dir(root: &Path) -> PathBuf {
    root.join("environments")
}

/// Every profile name (file stem) in `environments/`, sorted.
fn all_names(root: &Path) -> Result<Vec<String>> {
    let dir = environments_dir(root);
    let entries =
        std::fs::read_dir(&dir).map_err(Error::io(format!("reading {}", dir.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(Error::io(format!("reading {}", dir.display())))?
            .path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The deployable profiles: all but those marked `abstract: true`.
pub(super) fn names(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in all_names(root)? {
        let mut node = Node::parse_file(&profile_path(root, &name))?;
        if !take_abstract(&mut node)? {
            out.push(name);
        }
    }
    Ok(out)
}

fn profile_path(root: &Path, name: &str) -> PathBuf {
    environments_dir(root).join(format!("{name}.yaml"))
}

fn profile_error(origin: &Origin, key: &str, message: String, help: Option<String>) -> Error {
    Error::Profile {
        file: origin.file.as_ref().clone(),
        line: origin.line,
        key: key.to_string(),
        message,
        help,
    }
}

/// Loads and checks one profile.
pub(super) fn load(root: &Path, name: &str) -> Result<Profile> {
    let env_name = match EnvironmentName::parse(name) {
        Ok(n) => n,
        Err(_) if !profile_path(root, name).is_file() => return Err(unknown(root, name)?),
        Err(e) => return Err(e),
    };
    if !profile_path(root, name).is_file() {
        return Err(unknown(root, name)?);
    }
    let mut chain = Vec::new();
    let mut merged = resolve(root, name, None, &mut chain)?;
    let top = Node::parse_file(&profile_path(root, name))?;
    let mut top_copy = top;
    if take_abstract(&mut top_copy)? {
        let origin = top_copy
            .entry("abstract")
            .map(|e| e.key_origin.clone())
            .unwrap_or_else(|| top_copy.origin.clone());
        return Err(profile_error(
            &origin,
            "abstract",
            format!("`{name}` is an abstract profile (shared settings), not an environment"),
            Some(format!(
                "deployable environments: {}",
                names(root)?.join(", ")
            )),
        ));
    }
    merged.take("abstract");
    let body: ProfileBody = deserialize(&merged)?;
    let sources = chain.iter().rev().map(|n| profile_path(root, n)).collect();
    let profile = Profile::from_body(env_name, body, sources);
    if let Some(problem) = validate::check(&profile).into_iter().next() {
        let origin = merged.locate(&parse_path(&problem.key));
        return Err(profile_error(
            &origin,
            &problem.key,
            problem.message,
            problem.help,
        ));
    }
    Ok(profile)
}

fn unknown(root: &Path, name: &str) -> Result<Error> {
    Ok(Error::UnknownEnvironment {
        name: name.to_string(),
        known: names(root)?.join(", "),
    })
}

/// Parses `name` and everything it extends, merged (the parent first, `name` on top).
/// `chain` collects the names visited, to report cycles.
fn resolve(
    root: &Path,
    name: &str,
    from: Option<&Origin>,
    chain: &mut Vec<String>,
) -> Result<Node> {
    let path = profile_path(root, name);
    if let Some(origin) = from {
        if chain.iter().any(|n| n == name) {
            let mut cycle = chain.clone();
            cycle.push(name.to_string());
            return Err(profile_error(
                origin,
                "extends",
                format!("`extends:` makes a cycle: {}", cycle.join(" -> ")),
                Some("a profile may not extend itself, directly or through others".into()),
            ));
        }
        if !path.is_file() {
            return Err(profile_error(
                origin,
                "extends",
                format!("extends `{name}`, but {} does not exist", path.display()),
                Some(format!(
                    "profiles that exist: {}",
                    all_names(root)?.join(", ")
                )),
            ));
        }
    }
    chain.push(name.to_string());
    let mut node = Node::parse_file(&path)?;
    take_abstract(&mut node)?;
    let parent = match node.take("extends") {
        None => None,
        Some(Entry {
            value, key_origin, ..
        }) => match value.kind {
            NodeKind::Scalar(serde_yaml::Value::String(parent)) => Some((parent, value.origin)),
            _ => {
                return Err(profile_error(
                    &key_origin,
                    "extends",
                    "`extends` must be the name of one other profile".into(),
                    Some("write it like `extends: base`".into()),
                ))
            }
        },
    };
    match parent {
        None => Ok(node),
        Some((parent, origin)) => {
            let mut base = resolve(root, &parent, Some(&origin), chain)?;
            base.merge(node);
            Ok(base)
        }
    }
}

/// Removes `abstract:` from a parsed file and says whether it was `true`.
fn take_abstract(node: &mut Node) -> Result<bool> {
    match node.take("abstract") {
        None => Ok(false),
        Some(Entry {
            value, key_origin, ..
        }) => match value.kind {
            NodeKind::Scalar(serde_yaml::Value::Bool(b)) => Ok(b),
            _ => Err(profile_error(
                &key_origin,
                "abstract",
                "`abstract` must be true or false".into(),
                None,
            )),
        },
    }
}

/// Deserializes the merged tree into the typed body; errors point at the offending key.
fn deserialize(merged: &Node) -> Result<ProfileBody> {
    let value = merged.to_value();
    serde_path_to_error::deserialize::<_, ProfileBody>(value).map_err(|err| {
        let mut path: Vec<PathSegment> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Map { key } => Some(PathSegment::Key(key.clone())),
                Segment::Seq { index } => Some(PathSegment::Index(*index)),
                Segment::Enum { .. } | Segment::Unknown => None,
            })
            .collect();
        let message = err.inner().to_string();
        let origin = merged.locate(&path);
        let mut help = None;
        if let Some(field) = quoted_after(&message, "unknown field `") {
            // Point at the unknown key itself, not at its parent.
            // serde_path_to_error already ends the path with the unknown key.
            if path.last() != Some(&PathSegment::Key(field.clone())) {
                path.push(PathSegment::Key(field.clone()));
            }
            let parent = &path[..path.len() - 1];
            help = Some(
                "check the spelling and the indentation; docs/profiles.md lists every key".into(),
            );
            let origin = locate_key(merged, parent, &field).unwrap_or(origin);
            return profile_error(&origin, &display_path(&path), message, help);
        }
        if let Some(field) = quoted_after(&message, "missing field `") {
            path.push(PathSegment::Key(field));
            help = Some(
                "add it here or in the profile this one extends (see docs/profiles.md)".into(),
            );
        }
        profile_error(&origin, &display_path(&path), message, help)
    })
}

/// The origin of key `field` inside the mapping at `parent`.
fn locate_key(root: &Node, parent: &[PathSegment], field: &str) -> Option<Origin> {
    let mut node = root;
    for segment in parent {
        node = match (segment, &node.kind) {
            (PathSegment::Key(k), NodeKind::Map(_)) => node.get(k)?,
            (PathSegment::Index(i), NodeKind::Seq(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    node.entry(field).map(|e| e.key_origin.clone())
}

/// The text between `prefix` and the next backtick in `message`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_string())
}
