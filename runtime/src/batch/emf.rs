//! CloudWatch Embedded Metric Format: JSON log lines that CloudWatch Logs turns
//! into metrics with no agent code (namespace and dimensions configurable).

use std::io::Write;

use serde_json::{json, Map, Value};

/// A metric value and its CloudWatch unit (`Count`, `Seconds`, `Count/Second`, ...).
pub struct EmfMetric<'a> {
    pub name: &'a str,
    pub value: f64,
    pub unit: &'a str,
}

/// Writes EMF lines with a fixed namespace and dimension set.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
}

impl Emf {
    pub fn new(namespace: String, dimensions: Vec<(String, String)>) -> Emf {
        Emf {
            namespace,
            dimensions,
        }
    }

    /// One EMF document. `properties` are extra fields kept in the log line
    /// (searchable in Logs Insights) but not turned into metrics.
    pub fn document(&self, metrics: &[EmfMetric<'_>], properties: Map<String, Value>) -> Value {
        let timestamp = chrono::Utc::now().timestamp_millis();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit}))
            .collect();
        let mut root = properties;
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for m in metrics {
            root.insert(m.name.into(), json!(m.value));
        }
        Value::Object(root)
    }

    /// Writes one EMF document as a line on stdout, next to the JSON logs.
    pub fn emit(&self, metrics: &[EmfMetric<'_>], properties: Map<String, Value>) {
        let mut line = self.document(metrics, properties).to_string();
        line.push('\n');
        // One write of the whole line, so it never interleaves with a log line.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_emf_specification() {
        let emf = Emf::new(
            "Rates".into(),
            vec![("Environment".into(), "staging".into())],
        );
        let mut props = Map::new();
        props.insert("batch_id".into(), json!("x"));
        let doc = emf.document(
            &[EmfMetric {
                name: "RowsIngested",
                value: 5.0,
                unit: "Count",
            }],
            props,
        );
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].as_i64().unwrap() > 0);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Rates");
        assert_eq!(directive["Dimensions"], json!([["Environment"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "RowsIngested", "Unit": "Count"})
        );
        assert_eq!(doc["Environment"], "staging");
        assert_eq!(doc["RowsIngested"], 5.0);
        assert_eq!(doc["batch_id"], "x");
    }
}
