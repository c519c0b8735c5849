//! The summary of a saved Terraform plan (`terraform show -json PLANFILE`): what is
//! added, changed and destroyed, by resource type, with replacements called out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Counts of one resource type's changes. A replacement counts once in `replace`
/// and also in `add` and `destroy`, as Terraform's own "Plan:" line does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TypeChanges {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
}

/// A resource Terraform will destroy and re-create, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    pub address: String,
    /// Terraform's reason, e.g. "an attribute that cannot be updated in place changed".
    pub reason: String,
    /// The attributes forcing the replacement (from `replace_paths`).
    pub attributes: Vec<String>,
    /// `true` when the new one is created before the old one is destroyed.
    pub create_before_destroy: bool,
}

/// What a plan does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub by_type: BTreeMap<String, TypeChanges>,
    pub replacements: Vec<Replacement>,
    /// Addresses of resources destroyed outright (not replaced).
    pub deletions: Vec<String>,
    /// Root outputs that change.
    pub output_changes: usize,
}

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
    #[serde(default)]
    output_changes: BTreeMap<String, OutputChange>,
}

#[derive(Deserialize)]
struct ResourceChange {
    address: String,
    #[serde(default)]
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    change: Change,
    #[serde(default)]
    action_reason: Option<String>,
}

#[derive(Deserialize)]
struct Change {
    actions: Vec<String>,
    #[serde(default)]
    replace_paths: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct OutputChange {
    actions: Vec<String>,
}

impl PlanSummary {
    /// Summarises `terraform show -json` output of a saved plan.
    pub fn from_show_json(json: &str) -> Result<PlanSummary> {
        let show: ShowJson = serde_json::from_str(json).map_err(|e| Error::Terraform {
            step: "show -json".into(),
            message: format!(
                "unexpected plan JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
            help: Some("envctl reads the plan JSON format of Terraform 1.5 and newer".into()),
        })?;
        let mut summary = PlanSummary::default();
        for rc in show.resource_changes {
            // Data sources are read, never created or destroyed.
            if rc.mode == "data" {
                continue;
            }
            let actions: Vec<&str> = rc.change.actions.iter().map(String::as_str).collect();
            let entry = summary.by_type.entry(rc.kind.clone()).or_default();
            match actions.as_slice() {
                ["create"] => {
                    entry.add += 1;
                    summary.add += 1;
                }
                ["update"] => {
                    entry.change += 1;
                    summary.change += 1;
                }
                ["delete"] => {
                    entry.destroy += 1;
                    summary.destroy += 1;
                    summary.deletions.push(rc.address.clone());
                }
                ["delete", "create"] | ["create", "delete"] => {
                    entry.add += 1;
                    entry.destroy += 1;
                    entry.replace += 1;
                    summary.add += 1;
                    summary.destroy += 1;
                    summary.replacements.push(Replacement {
                        address: rc.address.clone(),
                        reason: replace_reason(rc.action_reason.as_deref()),
                        attributes: rc
                            .change
                            .replace_paths
                            .iter()
                            .map(|p| path_string(p))
                            .collect(),
                        create_before_destroy: actions[0] == "create",
                    });
                }
                _ => {}
            }
            if *entry == TypeChanges::default() {
                summary.by_type.remove(&rc.kind);
            }
        }
        summary.output_changes = show
            .output_changes
            .values()
            .filter(|o| o.actions.iter().any(|a| a != "no-op"))
            .count();
        Ok(summary)
    }

    /// True when applying the plan would change anything (resources or outputs),
    /// like `terraform plan -detailed-exitcode` exiting 2.
    pub fn has_changes(&self) -> bool {
        self.add + self.change + self.destroy + self.output_changes > 0
    }

    /// True when the plan destroys or replaces anything (needs confirmation on protected envs).
    pub fn is_destructive(&self) -> bool {
        self.destroy > 0
    }

    /// The summary for people: a "Plan:" line, a table by type, replacements and deletions.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.has_changes() {
            out.push_str("No changes: the infrastructure matches the configuration.\n");
            return out;
        }
        let _ = writeln!(
            out,
            "Plan: {} to add, {} to change, {} to destroy{}.",
            self.add,
            self.change,
            self.destroy,
            if self.output_changes > 0 {
                format!(", {} output(s) changing", self.output_changes)
            } else {
                String::new()
            }
        );
        if !self.by_type.is_empty() {
            let width = self.by_type.keys().map(String::len).max().unwrap_or(0);
            let _ = writeln!(
                out,
                "\n  {:width$}  add  change  destroy  replace",
                "resource type"
            );
            for (kind, c) in &self.by_type {
                let _ = writeln!(
                    out,
                    "  {kind:width$}  {:>3}  {:>6}  {:>7}  {:>7}",
                    c.add, c.change, c.destroy, c.replace
                );
            }
        }
        if !self.replacements.is_empty() {
            let _ = writeln!(out, "\nReplaced (destroyed and re-created):");
            for r in &self.replacements {
                let attrs = if r.attributes.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.attributes.join(", "))
                };
                let order = if r.create_before_destroy {
                    "new one created first"
                } else {
                    "old one destroyed first"
                };
                let _ = writeln!(out, "  ! {}: {}{attrs} ({order})", r.address, r.reason);
            }
        }
        if !self.deletions.is_empty() {
            let _ = writeln!(out, "\nDestroyed:");
            for d in &self.deletions {
                let _ = writeln!(out, "  - {d}");
            }
        }
        out
    }
}

fn replace_reason(reason: Option<&str>) -> String {
    match reason {
        Some("replace_because_cannot_update") => {
            "an attribute that cannot be updated in place changed".into()
        }
        Some("replace_because_tainted") => "the resource is tainted".into(),
        Some("replace_by_request") => "replacement was requested (-replace)".into(),
        Some("replace_by_triggers") => "a replace_triggered_by reference changed".into(),
        Some(other) => other.replace('_', " "),
        None => "must be replaced".into(),
    }
}

// ["tags", "Name"] -> tags.Name; [0] -> [0]
fn path_string(path: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            serde_json::Value::Number(n) => {
                let _ = write!(out, "[{n}]");
            }
            serde_json::Value::String(s) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(s);
            }
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_replacements_as_add_and_destroy() {
        let json = r#"{"format_version":"1.2","resource_changes":[
          {"address":"aws_db_instance.main","mode":"managed","type":"aws_db_instance","name":"main",
           "change":{"actions":["delete","create"],"replace_paths":[["engine_version"]]},
           "action_reason":"replace_because_cannot_update"},
          {"address":"data.aws_caller_identity.current","mode":"data","type":"aws_caller_identity",
           "name":"current","change":{"actions":["read"]}},
          {"address":"aws_sqs_queue.q","mode":"managed","type":"aws_sqs_queue","name":"q",
           "change":{"actions":["no-op"]}}]}"#;
        let s = PlanSummary::from_show_json(json).unwrap();
        assert_eq!((s.add, s.change, s.destroy), (1, 0, 1));
        assert_eq!(s.replacements[0].attributes, vec!["engine_version"]);
        assert!(s.deletions.is_empty());
        assert_eq!(s.by_type.len(), 1);
        assert!(s
            .to_text()
            .contains("! aws_db_instance.main: an attribute that cannot be updated"));
    }

    #[test]
    fn bad_json_names_the_position() {
        let err = PlanSummary::from_show_json("{\n  \"resource_changes\": 3\n}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
