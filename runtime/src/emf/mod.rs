//! CloudWatch Embedded Metric Format: JSON documents that CloudWatch Logs turns into
//! metrics (namespace and dimensions configurable). They go to the CloudWatch agent's EMF
//! listener when `RATES_EMF_ENDPOINT` is set (see [`agent`]), else to stdout
//! as lines next to the JSON logs (`envctl up local`, tests).
//!
//! Metrics are named by the contract ([`rates_contract::metrics`]): a document can carry
//! only a contract [`Metric`], with the contract's unit and dimensions, so the names the
//! alarms read and the names written here cannot drift apart.

use std::io::Write;

use rates_contract::metrics::{Dimensions, Metric};
use serde_json::{json, Map, Value};

use self::agent::AgentSender;

pub mod agent;
pub mod api;
pub mod settings;

/// One value of a contract metric (sent with the contract's unit and dimensions).
pub struct EmfMetric {
    pub metric: &'static Metric,
    pub value: f64,
}

/// Several values of one metric in one document (at most 100, the specification's limit
/// for a metric's value array); CloudWatch counts each as a sample, so percentiles work.
pub struct EmfSeries<'a> {
    pub metric: &'static Metric,
    pub values: &'a [f64],
}

/// The most values one metric may carry in one document (EMF specification, "Target
/// members": numeric array targets MUST NOT have more than 100 members).
pub const MAX_SERIES_VALUES: usize = 100;

/// Where the documents go.
#[derive(Debug, Clone)]
enum Sink {
    Stdout,
    /// The CloudWatch agent, with the log group the agent writes them to.
    Agent {
        sender: AgentSender,
        log_group: Option<String>,
    },
}

/// Writes EMF documents with a fixed namespace and dimension set.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
    sink: Sink,
}

impl Emf {
    /// Documents as lines on stdout.
    pub fn new(namespace: String, dimensions: Vec<(String, String)>) -> Emf {
        Emf {
            namespace,
            dimensions,
            sink: Sink::Stdout,
        }
    }

    /// The sink the settings name: the agent when `RATES_EMF_ENDPOINT` is set (its
    /// dropped documents counted on `metrics`), else stdout.
    pub fn from_settings(
        settings: &settings::EmfSettings,
        metrics: &crate::metrics::Metrics,
    ) -> Emf {
        match &settings.endpoint {
            Some(endpoint) => Emf::to_agent(
                settings.namespace.clone(),
                settings.dimensions.clone(),
                AgentSender::start(endpoint.clone(), metrics.clone()),
                settings.log_group.clone(),
            ),
            None => Emf::new(settings.namespace.clone(), settings.dimensions.clone()),
        }
    }

    /// Documents to the CloudWatch agent through `sender`, each naming `log_group`
    /// (`_aws.LogGroupName`) when given.
    pub fn to_agent(
        namespace: String,
        dimensions: Vec<(String, String)>,
        sender: AgentSender,
        log_group: Option<String>,
    ) -> Emf {
        Emf {
            namespace,
            dimensions,
            sink: Sink::Agent { sender, log_group },
        }
    }

    /// The agent sender, when documents go to the agent.
    pub fn agent(&self) -> Option<&AgentSender> {
        match &self.sink {
            Sink::Agent { sender, .. } => Some(sender),
            Sink::Stdout => None,
        }
    }

    /// Delivers buffered documents to the agent within `bound` (at shutdown); nothing to
    /// do for stdout, whose lines are written at once.
    pub async fn flush(&self, bound: std::time::Duration) {
        if let Some(sender) = self.agent() {
            sender.flush(bound).await;
        }
    }

    /// One EMF document. `properties` are extra fields kept in the log line
    /// (searchable in Logs Insights) but not turned into metrics.
    pub fn document(&self, metrics: &[EmfMetric], properties: Map<String, Value>) -> Value {
        self.document_with_series(metrics, &[], properties)
    }

    /// One EMF document with single-valued metrics and value series.
    pub fn document_with_series(
        &self,
        metrics: &[EmfMetric],
        series: &[EmfSeries<'_>],
        properties: Map<String, Value>,
    ) -> Value {
        let timestamp = chrono::Utc::now().timestamp_millis();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        // One metric directive per dimension rule: a directive's dimension sets apply to
        // every metric it lists.
        let mut directives: Vec<(Dimensions, Vec<Value>)> = Vec::new();
        for metric in metrics
            .iter()
            .map(|m| m.metric)
            .chain(series.iter().map(|s| s.metric))
        {
            let definition = json!({"Name": metric.name, "Unit": metric.unit.as_str()});
            match directives.iter_mut().find(|(d, _)| *d == metric.dimensions) {
                Some((_, definitions)) => definitions.push(definition),
                None => directives.push((metric.dimensions, vec![definition])),
            }
        }
        let directives: Vec<Value> = directives
            .into_iter()
            .map(|(dimensions, definitions)| {
                json!({
                    "Namespace": self.namespace,
                    "Dimensions": dimensions.sets(&dimension_names),
                    "Metrics": definitions,
                })
            })
            .collect();
        let mut root = properties;
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": directives,
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for m in metrics {
            root.insert(m.metric.name.into(), json!(m.value));
        }
        for s in series {
            debug_assert!(s.values.len() <= MAX_SERIES_VALUES);
            root.insert(s.metric.name.into(), json!(s.values));
        }
        Value::Object(root)
    }

    /// Sends one EMF document as a newline-terminated JSON line: queued for the agent
    /// (never waits), or written to stdout next to the JSON logs.
    pub fn emit(&self, metrics: &[EmfMetric], properties: Map<String, Value>) {
        self.emit_with_series(metrics, &[], properties);
    }

    /// Like [`Emf::emit`], with value series.
    pub fn emit_with_series(
        &self,
        metrics: &[EmfMetric],
        series: &[EmfSeries<'_>],
        properties: Map<String, Value>,
    ) {
        let mut document = self.document_with_series(metrics, series, properties);
        match &self.sink {
            Sink::Stdout => {
                let mut line = document.to_string();
                line.push('\n');
                // One write of the whole line, so it never interleaves with a log line.
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::Agent { sender, log_group } => {
                if let Some(group) = log_group {
                    // The agent writes the document to this log group (created by
                    // Terraform with the environment's retention and key).
                    document["_aws"]["LogGroupName"] = Value::String(group.clone());
                }
                let mut line = document.to_string();
                line.push('\n');
                sender.send(line);
            }
        }
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
                metric: &rates_contract::metrics::ROWS_INGESTED,
                value: 5.0,
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
