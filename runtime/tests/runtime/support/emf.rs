//! A checker of embedded metric format (EMF) lines as the CloudWatch agent and CloudWatch
//! Logs receive them. It applies AWS's published JSON schema for EMF documents
//! (emf-schema.json, from the specification page) and then the rules of the same
//! specification that a schema cannot express; each rule names its source.
//!
//! Specification: Amazon CloudWatch User Guide, "Specification: Embedded metric format"
//! (CloudWatch_Embedded_Metric_Format_Specification), called "spec" below.
//! Agent protocol: "Using the CloudWatch agent to send embedded metric format logs" and the
//! aws-embedded-metrics libraries' agent sinks (Python `AgentSink`, Java `AgentSink`): one
//! document per line, newline-terminated, `_aws.LogGroupName` naming the log group.
#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::Value;

/// spec, "Embedded metric format document structure": the same limit as a CloudWatch Logs
/// event, 256 KB in the published specification (later raised to 1 MB; the stricter holds).
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// spec, "MetricDirective object": "This array MUST NOT contain more than 100
/// MetricDefinition objects".
const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// spec, "Target members": "Numeric array metric targets MUST NOT have more than 100 members".
const MAX_VALUES_PER_METRIC: usize = 100;
/// CloudWatch accepts metric data up to two weeks old and two hours ahead; the
/// aws-embedded-metrics libraries validate timestamps against exactly these bounds
/// (MAX_TIMESTAMP_PAST_AGE = 14 days, MAX_TIMESTAMP_FUTURE_AGE = 2 hours).
const MAX_PAST_MS: i64 = 14 * 24 * 3600 * 1000;
const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;

fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("emf-schema.json");
        let schema: Value = serde_json::from_str(text).expect("emf-schema.json is JSON");
        jsonschema::validator_for(&schema).expect("emf-schema.json is a valid JSON schema")
    })
}

/// Checks one line as received from the runtime (including its newline). With
/// `log_group`, the line must name that log group for the agent. Returns the document.
pub(crate) fn validate_line(line: &str, log_group: Option<&str>) -> Result<Value, String> {
    // Agent protocol: newline-delimited documents; a line without its newline would be
    // joined with the next one by the agent's line reader.
    let body = line
        .strip_suffix('\n')
        .ok_or_else(|| format!("not newline-terminated: {line:?}"))?;
    if body.contains('\n') {
        return Err(format!("more than one line: {line:?}"));
    }
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{} bytes, more than a log event's {MAX_DOCUMENT_BYTES}",
            body.len()
        ));
    }
    // spec, "Root node": "The LogEvent message MUST be a valid JSON object with no
    // additional data at the beginning or end". serde_json refuses trailing data.
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("not one JSON value ({e}): {body}"))?;
    validate_document(&doc)?;
    if let Some(expected) = log_group {
        // Agent sinks put the log group in the metadata object (`LogGroupName`).
        let group = &doc["_aws"]["LogGroupName"];
        if group != expected {
            return Err(format!(
                "_aws.LogGroupName is {group}, expected {expected:?}: {body}"
            ));
        }
    }
    Ok(doc)
}

/// Checks one parsed EMF document.
pub(crate) fn validate_document(doc: &Value) -> Result<(), String> {
    let errors: Vec<String> = schema()
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if !errors.is_empty() {
        return Err(format!("AWS's EMF schema: {}: {doc}", errors.join("; ")));
    }
    let root = doc.as_object().expect("the schema requires an object");
    let aws = &doc["_aws"];
    // spec, "Metadata object": Timestamp is milliseconds after the epoch (the schema
    // checks it is an integer); it must also be a time CloudWatch accepts.
    let timestamp = aws["Timestamp"].as_i64().ok_or("Timestamp out of range")?;
    let now = chrono::Utc::now().timestamp_millis();
    if timestamp < now - MAX_PAST_MS || timestamp > now + MAX_FUTURE_MS {
        return Err(format!(
            "Timestamp {timestamp} is not within 14 days before and 2 hours after now ({now})"
        ));
    }
    for directive in aws["CloudWatchMetrics"]
        .as_array()
        .expect("schema: an array")
    {
        let metrics = directive["Metrics"].as_array().expect("schema: an array");
        if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
            return Err(format!(
                "{} metric definitions in one directive, at most {MAX_METRICS_PER_DIRECTIVE}",
                metrics.len()
            ));
        }
        // spec, "DimensionSet array": every dimension key is a member of the root node
        // ("Target members"), and "The target member MUST have a string value".
        for set in directive["Dimensions"]
            .as_array()
            .expect("schema: an array")
        {
            for key in set.as_array().expect("schema: an array") {
                let key = key.as_str().expect("schema: a string");
                match root.get(key) {
                    Some(Value::String(_)) => {}
                    Some(other) => {
                        return Err(format!(
                            "dimension `{key}` is {other}, not a string, at the root"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "dimension `{key}` is not a member of the root node: {doc}"
                        ))
                    }
                }
            }
        }
        // spec, "MetricDefinition object" and "Target members": each Name references a
        // root member (never a nested one) that is a number or an array of at most 100
        // numbers.
        for metric in metrics {
            let name = metric["Name"].as_str().expect("schema: a string");
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) => {
                    if values.len() > MAX_VALUES_PER_METRIC {
                        return Err(format!(
                            "metric `{name}` has {} values, at most {MAX_VALUES_PER_METRIC}",
                            values.len()
                        ));
                    }
                    if let Some(bad) = values.iter().find(|v| !v.is_number()) {
                        return Err(format!("metric `{name}` has a non-numeric value {bad}"));
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "metric `{name}` is {other}, not a number or an array of numbers"
                    ))
                }
                None => {
                    return Err(format!(
                        "metric `{name}` is not a member of the root node: {doc}"
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The checker refuses what the specification forbids (each case breaks one rule).
pub(crate) fn self_test() {
    let now = chrono::Utc::now().timestamp_millis();
    let good = serde_json::json!({
        "_aws": {"Timestamp": now, "LogGroupName": "g", "CloudWatchMetrics": [{
            "Namespace": "Rates", "Dimensions": [["Environment"]],
            "Metrics": [{"Name": "RowsIngested", "Unit": "Count"}]}]},
        "Environment": "test", "RowsIngested": 5
    });
    let line = |v: &Value| format!("{v}\n");
    validate_line(&line(&good), Some("g")).expect("a valid document");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        v
    };
    let cases: Vec<(&str, String)> = vec![
        ("no newline", good.to_string()),
        ("trailing data", format!("{good} x\n")),
        (
            "other log group",
            line(&broken(&|v| v["_aws"]["LogGroupName"] = "h".into())),
        ),
        (
            "no _aws",
            line(&broken(&|v| {
                v.as_object_mut().unwrap().remove("_aws");
            })),
        ),
        (
            "no Timestamp",
            line(&broken(&|v| {
                v["_aws"].as_object_mut().unwrap().remove("Timestamp");
            })),
        ),
        (
            "seconds, not ms",
            line(&broken(&|v| v["_aws"]["Timestamp"] = (now / 1000).into())),
        ),
        (
            "fractional Timestamp",
            line(&broken(&|v| {
                v["_aws"]["Timestamp"] = serde_json::json!(1.5)
            })),
        ),
        (
            "no Namespace",
            line(&broken(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("Namespace");
            })),
        ),
        (
            "empty Namespace",
            line(&broken(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Namespace"] = "".into()
            })),
        ),
        (
            "no Dimensions",
            line(&broken(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = serde_json::json!([])
            })),
        ),
        (
            "bad unit",
            line(&broken(&|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Rows".into()
            })),
        ),
        (
            "dimension missing",
            line(&broken(&|v| {
                v.as_object_mut().unwrap().remove("Environment");
            })),
        ),
        (
            "dimension not a string",
            line(&broken(&|v| v["Environment"] = 3.into())),
        ),
        (
            "metric missing",
            line(&broken(&|v| {
                v.as_object_mut().unwrap().remove("RowsIngested");
            })),
        ),
        (
            "metric a string",
            line(&broken(&|v| v["RowsIngested"] = "5".into())),
        ),
        (
            "metric null (NaN)",
            line(&broken(&|v| v["RowsIngested"] = Value::Null)),
        ),
        (
            "metric nested",
            line(&broken(&|v| {
                v.as_object_mut().unwrap().remove("RowsIngested");
                v["nested"] = serde_json::json!({"RowsIngested": 5});
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] =
                    "nested.RowsIngested".into();
            })),
        ),
        (
            "101 values",
            line(&broken(&|v| {
                v["RowsIngested"] = serde_json::json!(vec![1; 101])
            })),
        ),
        (
            "101 metrics",
            line(&broken(&|v| {
                let defs: Vec<Value> = (0..101)
                    .map(|i| serde_json::json!({"Name": format!("M{i}")}))
                    .collect();
                for i in 0..101 {
                    v[format!("M{i}")] = 1.into();
                }
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(defs);
            })),
        ),
    ];
    for (what, line) in cases {
        assert!(
            validate_line(&line, Some("g")).is_err(),
            "the EMF checker accepted a document with {what}: {line}"
        );
    }
}
