//! A refresh-only plan (`terraform show -json`) sorted into drift, expected differences and
//! output differences. The exit code of `plan -refresh-only -detailed-exitcode` does not
//! say which: Terraform 1.15 exits 2 when only root outputs differ from the state (a
//! configuration change not applied yet, or a state written before an output existed),
//! exits 0 for resources that are only in the configuration, and exits 2 for real drift.

use serde::Serialize;
use serde_json::Value;

use crate::{Error, Result};

/// One resource changed outside Terraform.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDrift {
    pub address: String,
    /// `update` (attributes changed) or `delete` (gone).
    pub action: String,
    /// The attribute paths that changed, e.g. `ingress[0].cidr_blocks`.
    pub attributes: Vec<String>,
    /// Why it is expected, for differences that are not drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// The Terraform layer of a drift report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TerraformDrift {
    pub drift: Vec<ResourceDrift>,
    pub expected: Vec<ResourceDrift>,
    /// Root outputs whose value in the state differs from the configuration's: not drift
    /// of the infrastructure, but a configuration `up` has not applied yet.
    pub outputs: Vec<String>,
}

/// Attributes whose change is expected, per resource type: a minor engine version RDS
/// upgraded by itself (the database module sets `auto_minor_version_upgrade`), the
/// desired size the node autoscaler owns (the eks module ignores it), and timestamps the
/// service moves on its own.
fn expected_reason(ty: &str, path: &str, before: &Value, after: &Value) -> Option<String> {
    match (ty, path) {
        ("aws_db_instance", "engine_version") => {
            let major = |v: &Value| {
                v.as_str()
                    .and_then(|s| s.split('.').next().map(str::to_string))
            };
            (major(before) == major(after) && major(before).is_some()).then(|| {
                format!(
                    "RDS upgraded the minor engine version by itself ({} to {}; auto_minor_version_upgrade)",
                    before, after
                )
            })
        }
        ("aws_db_instance", "engine_version_actual" | "latest_restorable_time") => {
            Some("set by RDS itself".into())
        }
        ("aws_eks_node_group", p)
            if p.starts_with("scaling_config") && p.ends_with("desired_size") =>
        {
            Some("the node autoscaler owns the desired size (ignore_changes)".into())
        }
        _ => None,
    }
}

/// Sorts a refresh-only plan's JSON.
pub fn classify(show_json: &str) -> Result<TerraformDrift> {
    let plan: Value = serde_json::from_str(show_json).map_err(|e| Error::Terraform {
        step: "show -json".into(),
        message: format!("not JSON: {e}"),
        help: None,
    })?;
    let mut out = TerraformDrift::default();
    for change in plan["resource_drift"].as_array().into_iter().flatten() {
        let address = change["address"].as_str().unwrap_or_default().to_string();
        let ty = change["type"].as_str().unwrap_or_default();
        let actions: Vec<&str> = change["change"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if actions.iter().all(|a| *a == "no-op" || *a == "read") {
            continue;
        }
        let before = &change["change"]["before"];
        let after = &change["change"]["after"];
        if actions.contains(&"delete") || after.is_null() {
            out.drift.push(ResourceDrift {
                address,
                action: "delete".into(),
                attributes: Vec::new(),
                expected: None,
            });
            continue;
        }
        let mut changed = Vec::new();
        paths("", before, after, &mut changed);
        let reasons: Vec<Option<String>> = changed
            .iter()
            .map(|(p, b, a)| expected_reason(ty, p, b, a))
            .collect();
        let attributes: Vec<String> = changed.iter().map(|(p, _, _)| p.clone()).collect();
        if !changed.is_empty() && reasons.iter().all(Option::is_some) {
            let mut why: Vec<String> = reasons.into_iter().flatten().collect();
            why.dedup();
            out.expected.push(ResourceDrift {
                address,
                action: "update".into(),
                attributes,
                expected: Some(why.join("; ")),
            });
        } else {
            // Only the unexplained attributes are drift.
            let attributes = changed
                .iter()
                .zip(&reasons)
                .filter(|(_, r)| r.is_none())
                .map(|((p, _, _), _)| p.clone())
                .collect();
            out.drift.push(ResourceDrift {
                address,
                action: "update".into(),
                attributes,
                expected: None,
            });
        }
    }
    if let Some(outputs) = plan["output_changes"].as_object() {
        for (name, change) in outputs {
            let noop = change["actions"]
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x == "no-op"));
            if !noop {
                out.outputs.push(name.clone());
            }
        }
    }
    Ok(out)
}

/// The leaf paths where `before` and `after` differ.
fn paths<'a>(
    path: &str,
    before: &'a Value,
    after: &'a Value,
    out: &mut Vec<(String, &'a Value, &'a Value)>,
) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                paths(
                    &sub,
                    b.get(key).unwrap_or(&Value::Null),
                    a.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                paths(&format!("{path}[{i}]"), bv, av, out);
            }
        }
        _ => out.push((path.to_string(), before, after)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_expected_differences_and_outputs_are_told_apart() {
        let plan = serde_json::json!({
            "resource_drift": [
                { "address": "module.database.aws_db_instance.primary", "type": "aws_db_instance",
                  "change": { "actions": ["update"],
                    "before": { "engine_version": "16.4", "latest_restorable_time": "a", "port": 5432 },
                    "after":  { "engine_version": "16.6", "latest_restorable_time": "b", "port": 5432 } } },
                { "address": "module.eks.aws_eks_node_group.this[\"general\"]", "type": "aws_eks_node_group",
                  "change": { "actions": ["update"],
                    "before": { "scaling_config": [{ "desired_size": 2, "max_size": 4 }] },
                    "after":  { "scaling_config": [{ "desired_size": 3, "max_size": 4 }] } } },
                { "address": "module.network.aws_security_group.db", "type": "aws_security_group",
                  "change": { "actions": ["update"],
                    "before": { "ingress": [{ "cidr_blocks": ["10.0.0.0/16"] }] },
                    "after":  { "ingress": [{ "cidr_blocks": ["0.0.0.0/0"] }] } } },
                { "address": "module.database.aws_db_instance.replica[0]", "type": "aws_db_instance",
                  "change": { "actions": ["update"],
                    "before": { "engine_version": "16.4" }, "after": { "engine_version": "17.1" } } },
                { "address": "module.queue.aws_sqs_queue.dlq", "type": "aws_sqs_queue",
                  "change": { "actions": ["delete"], "before": { "name": "x" }, "after": null } }
            ],
            "output_changes": {
                "cluster_name": { "actions": ["no-op"] },
                "alarm_topic_arn": { "actions": ["update"] }
            }
        });
        let d = classify(&plan.to_string()).unwrap();
        let drifted: Vec<(&str, &[String])> = d
            .drift
            .iter()
            .map(|r| (r.address.as_str(), r.attributes.as_slice()))
            .collect();
        assert_eq!(
            drifted,
            [
                (
                    "module.network.aws_security_group.db",
                    &["ingress[0].cidr_blocks[0]".to_string()][..]
                ),
                (
                    "module.database.aws_db_instance.replica[0]",
                    &["engine_version".to_string()][..]
                ),
                ("module.queue.aws_sqs_queue.dlq", &[][..]),
            ]
        );
        assert_eq!(d.expected.len(), 2, "{d:?}");
        assert_eq!(d.outputs, ["alarm_topic_arn"]);
    }
}
