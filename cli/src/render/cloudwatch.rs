//! Structural checks of the rendered CloudWatch alarms (PutMetricAlarm inputs) and
//! dashboard body. The CloudWatch APIs accept almost any JSON, so mistakes would only
//! show as empty graphs or alarms that never fire; these checks catch them at render time.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::profile::Profile;
use crate::{Error, Result};

/// The dashboard grid is 24 units wide.
const GRID_WIDTH: u64 = 24;

const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
const MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const ALARM_KEYS: &[&str] = &[
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Metrics",
    "Tags",
];

fn invalid(what: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Rendered {
        what: what.into(),
        message: message.into(),
    }
}

/// Checks `{"alarms": [...]}`: API field names, closed sets, names under the alarm prefix.
pub fn validate_alarms(text: &str, p: &Profile) -> Result<()> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| invalid("cloudwatch/alarms.json", format!("not valid JSON: {e}")))?;
    let alarms = doc["alarms"]
        .as_array()
        .ok_or_else(|| invalid("cloudwatch/alarms.json", "needs an `alarms` array"))?;
    if alarms.is_empty() {
        return Err(invalid("cloudwatch/alarms.json", "no alarms"));
    }
    let prefix = p.alarm_prefix();
    let mut names = BTreeSet::new();
    for alarm in alarms {
        let name = alarm["AlarmName"].as_str().unwrap_or_default();
        let what = format!("alarm {name}");
        if !name.starts_with(&prefix) || name.len() > 255 {
            return Err(invalid(
                what,
                format!("AlarmName must start with {prefix} (at most 255 characters)"),
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(invalid(what, "AlarmName is used twice"));
        }
        for key in alarm.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !ALARM_KEYS.contains(&key.as_str()) {
                return Err(invalid(
                    &what,
                    format!("{key} is not a PutMetricAlarm field"),
                ));
            }
        }
        if !alarm["ComparisonOperator"]
            .as_str()
            .is_some_and(|c| COMPARISONS.contains(&c))
        {
            return Err(invalid(
                what,
                format!(
                    "ComparisonOperator must be one of {}",
                    COMPARISONS.join(", ")
                ),
            ));
        }
        if !alarm["TreatMissingData"]
            .as_str()
            .is_some_and(|c| MISSING.contains(&c))
        {
            return Err(invalid(
                what,
                format!("TreatMissingData must be one of {}", MISSING.join(", ")),
            ));
        }
        if !alarm["Threshold"].is_number() {
            return Err(invalid(what, "Threshold must be a number"));
        }
        let evaluation = alarm["EvaluationPeriods"].as_u64().unwrap_or(0);
        let datapoints = alarm["DatapointsToAlarm"].as_u64().unwrap_or(evaluation);
        if evaluation == 0 || datapoints == 0 || datapoints > evaluation {
            return Err(invalid(
                what,
                "need 1 <= DatapointsToAlarm <= EvaluationPeriods",
            ));
        }
        for key in ["AlarmActions", "OKActions"] {
            let ok = alarm[key]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "${alarm_topic_arn}"));
            if !ok {
                return Err(invalid(
                    &what,
                    format!("{key} must notify ${{alarm_topic_arn}}"),
                ));
            }
        }
        let single = !alarm["MetricName"].is_null();
        let math = !alarm["Metrics"].is_null();
        if single == math {
            return Err(invalid(
                what,
                "give either MetricName (one metric) or Metrics (metric math), not both",
            ));
        }
        if single {
            check_period(&what, &alarm["Period"])?;
            if alarm["Namespace"].as_str().is_none_or(str::is_empty) {
                return Err(invalid(what, "Namespace is required with MetricName"));
            }
            let stat = alarm["Statistic"].as_str();
            let extended = alarm["ExtendedStatistic"].as_str();
            match (stat, extended) {
                (Some(s), None) if STATISTICS.contains(&s) => {}
                (None, Some(e)) if is_percentile(e) => {}
                _ => return Err(invalid(what, "give one of Statistic (SampleCount, Average, Sum, Minimum, Maximum) or ExtendedStatistic (p0-p100)")),
            }
            check_dimensions(&what, &alarm["Dimensions"])?;
        } else {
            check_metric_math(&what, &alarm["Metrics"])?;
        }
    }
    Ok(())
}

fn is_percentile(s: &str) -> bool {
    s.strip_prefix('p')
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (0.0..=100.0).contains(&n))
}

fn check_period(what: &str, period: &Value) -> Result<()> {
    let ok = period
        .as_u64()
        .is_some_and(|p| p == 10 || p == 30 || (p >= 60 && p % 60 == 0));
    if ok {
        Ok(())
    } else {
        Err(invalid(what, "Period must be 10, 30 or a multiple of 60"))
    }
}

fn check_dimensions(what: &str, dims: &Value) -> Result<()> {
    let Some(dims) = dims.as_array() else {
        return Err(invalid(what, "Dimensions must be a list of {Name, Value}"));
    };
    for d in dims {
        if d["Name"].as_str().is_none_or(str::is_empty)
            || d["Value"].as_str().is_none_or(str::is_empty)
        {
            return Err(invalid(what, "every dimension needs a Name and a Value"));
        }
    }
    Ok(())
}

/// Metric math: unique ids, exactly one entry returning data, every MetricStat complete.
fn check_metric_math(what: &str, metrics: &Value) -> Result<()> {
    let list = metrics
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid(what, "Metrics must be a non-empty list"))?;
    let mut ids = BTreeSet::new();
    let mut returning = 0;
    for m in list {
        let id = m["Id"].as_str().unwrap_or_default();
        let id_ok = id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !id_ok || !ids.insert(id.to_string()) {
            return Err(invalid(
                what,
                format!("metric id `{id}` must be unique, start with a lowercase letter"),
            ));
        }
        if m["ReturnData"] != Value::Bool(false) {
            returning += 1;
        }
        match (m["Expression"].is_string(), m["MetricStat"].is_object()) {
            (true, false) => {}
            (false, true) => {
                let stat = &m["MetricStat"];
                check_period(what, &stat["Period"])?;
                let metric = &stat["Metric"];
                if metric["Namespace"].as_str().is_none() || metric["MetricName"].as_str().is_none()
                {
                    return Err(invalid(
                        what,
                        format!("metric {id}: MetricStat.Metric needs Namespace and MetricName"),
                    ));
                }
                check_dimensions(what, &metric["Dimensions"])?;
                let s = stat["Stat"].as_str().unwrap_or_default();
                if !(STATISTICS.contains(&s) || is_percentile(s)) {
                    return Err(invalid(
                        what,
                        format!("metric {id}: Stat `{s}` is not a statistic"),
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    what,
                    format!("metric {id}: give exactly one of Expression and MetricStat"),
                ))
            }
        }
    }
    if returning != 1 {
        return Err(invalid(
            what,
            "exactly one metric must return data (the others need ReturnData: false)",
        ));
    }
    Ok(())
}

/// Checks a dashboard body: widgets inside the 24-unit grid without overlaps, metric
/// widgets with well-formed `metrics` arrays, a region, a view and a title.
pub fn validate_dashboard(text: &str) -> Result<()> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| invalid("cloudwatch/dashboard.json", format!("not valid JSON: {e}")))?;
    let widgets = doc["widgets"]
        .as_array()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            invalid(
                "cloudwatch/dashboard.json",
                "needs a non-empty `widgets` array",
            )
        })?;
    if widgets.len() > 500 {
        return Err(invalid("cloudwatch/dashboard.json", "at most 500 widgets"));
    }
    let mut cells: Vec<(u64, u64, u64, u64, String)> = Vec::new();
    for (i, w) in widgets.iter().enumerate() {
        let title = w["properties"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let what = format!("dashboard widget {i} ({title})");
        let kind = w["type"].as_str().unwrap_or_default();
        if !["metric", "text", "log", "alarm", "explorer"].contains(&kind) {
            return Err(invalid(what, format!("type `{kind}` is not a widget type")));
        }
        let geometry = ["x", "y", "width", "height"].map(|k| w[k].as_u64());
        let [Some(x), Some(y), Some(width), Some(height)] = geometry else {
            return Err(invalid(
                what,
                "x, y, width and height must be non-negative integers",
            ));
        };
        if width == 0 || height == 0 || x + width > GRID_WIDTH || height > 1000 {
            return Err(invalid(
                what,
                format!("the widget must fit the {GRID_WIDTH}-unit grid (x {x} + width {width})"),
            ));
        }
        for (ox, oy, ow, oh, other) in &cells {
            if x < ox + ow && *ox < x + width && y < oy + oh && *oy < y + height {
                return Err(invalid(what, format!("overlaps widget `{other}`")));
            }
        }
        cells.push((x, y, width, height, title.clone()));
        let props = &w["properties"];
        match kind {
            "metric" => check_metric_widget(&what, props)?,
            "text" if props["markdown"].as_str().is_none() => {
                return Err(invalid(what, "text widgets need properties.markdown"));
            }
            "alarm"
                if !props["alarms"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)) =>
            {
                return Err(invalid(
                    what,
                    "alarm widgets need properties.alarms (alarm ARNs)",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_metric_widget(what: &str, props: &Value) -> Result<()> {
    if props["title"].as_str().is_none_or(str::is_empty) {
        return Err(invalid(what, "metric widgets need a title"));
    }
    if props["region"].as_str().is_none_or(str::is_empty) {
        return Err(invalid(what, "metric widgets need a region"));
    }
    if !props["view"]
        .as_str()
        .is_some_and(|v| ["timeSeries", "singleValue", "gauge", "bar", "pie", "table"].contains(&v))
    {
        return Err(invalid(
            what,
            "view must be timeSeries, singleValue, gauge, bar, pie or table",
        ));
    }
    if !props["period"].is_null() {
        check_period(what, &props["period"])?;
    }
    let metrics = props["metrics"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid(what, "metric widgets need a non-empty metrics array"))?;
    let mut previous: Option<Vec<String>> = None;
    let mut ids = BTreeSet::new();
    for (row_index, row) in metrics.iter().enumerate() {
        let row = row.as_array().filter(|r| !r.is_empty()).ok_or_else(|| {
            invalid(
                what,
                format!("metrics[{row_index}] must be a non-empty array"),
            )
        })?;
        let (strings, options) = match row.last() {
            Some(Value::Object(o)) => (&row[..row.len() - 1], Some(o)),
            _ => (&row[..], None),
        };
        if let Some(o) = options {
            if let Some(id) = o.get("id").and_then(Value::as_str) {
                if !ids.insert(id.to_string()) {
                    return Err(invalid(
                        what,
                        format!("metrics[{row_index}]: id `{id}` is used twice"),
                    ));
                }
            }
            if let Some(stat) = o.get("stat").and_then(Value::as_str) {
                if !(STATISTICS.contains(&stat) || is_percentile(stat)) {
                    return Err(invalid(
                        what,
                        format!("metrics[{row_index}]: stat `{stat}` is not a statistic"),
                    ));
                }
            }
            if strings.is_empty() {
                // A math expression row: [{ "expression": ..., "id": ... }]
                if o.get("expression")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(invalid(
                        what,
                        format!("metrics[{row_index}]: an options-only row needs an expression"),
                    ));
                }
                continue;
            }
        }
        let mut parts: Vec<String> = Vec::new();
        for (i, s) in strings.iter().enumerate() {
            let s = s.as_str().ok_or_else(|| {
                invalid(what, format!("metrics[{row_index}][{i}] must be a string"))
            })?;
            let resolved = if s == "." {
                previous
                    .as_ref()
                    .and_then(|p| p.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        invalid(
                            what,
                            format!(
                                "metrics[{row_index}][{i}] is `.` with nothing above to repeat"
                            ),
                        )
                    })?
            } else {
                s.to_string()
            };
            parts.push(resolved);
        }
        // Namespace, MetricName, then dimension name/value pairs.
        if parts.len() < 2 || parts.len() % 2 != 0 {
            return Err(invalid(what, format!("metrics[{row_index}] must be [namespace, metric, dim, value, ...]; got {} strings", parts.len())));
        }
        previous = Some(parts);
    }
    Ok(())
}

/// One place an alarm or a dashboard widget reads a metric of the runtime's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeMetricUse {
    /// `alarm NAME` or `dashboard widget I (TITLE)`.
    pub what: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    /// The unit an alarm asks for, if any (a unit other than the sent one reads nothing).
    pub unit: Option<String>,
}

/// Every metric of the runtime's namespace (`observability.metrics_namespace`) the alarms
/// and the dashboard read, each checked against the contract (rates-contract): the runtime
/// must emit it, with exactly these dimensions (names and this environment's values) and
/// the unit asked for. CloudWatch accepts alarms on metrics nobody sends; with missing data
/// "not breaching" such an alarm never fires, so this is checked at render time. Returns
/// the uses it checked.
pub fn check_runtime_metrics(
    alarms: &str,
    dashboard: &str,
    p: &Profile,
) -> Result<Vec<RuntimeMetricUse>> {
    let uses = runtime_metric_uses(alarms, dashboard, p)?;
    let deployment = p.metric_dimensions();
    let names: Vec<&str> = deployment.keys().map(String::as_str).collect();
    for u in &uses {
        let listed: Vec<&str> = rates_contract::metrics::ALL
            .iter()
            .map(|m| m.name)
            .collect();
        let Some(metric) = rates_contract::metrics::find(&u.metric) else {
            return Err(invalid(
                &u.what,
                format!(
                    "reads {}/{}, which the runtime does not emit (rates-contract lists {}); take metric names from `contract.metrics`",
                    p.observability.metrics_namespace,
                    u.metric,
                    listed.join(", ")
                ),
            ));
        };
        let sets: Vec<BTreeMap<String, String>> = metric
            .dimensions
            .sets(&names)
            .into_iter()
            .map(|set| {
                set.into_iter()
                    .map(|d| {
                        let value = deployment[&d].clone();
                        (d, value)
                    })
                    .collect()
            })
            .collect();
        if !sets.contains(&u.dimensions) {
            return Err(invalid(
                &u.what,
                format!(
                    "reads {} with dimensions {}, but the runtime sends it with {} (rates-contract; the values are this environment's RATES_METRICS_DIMENSIONS); take them from `contract.metrics.{}.dimensions`",
                    u.metric,
                    show_dimensions(&u.dimensions),
                    sets.iter().map(show_dimensions).collect::<Vec<_>>().join(" or "),
                    super::context::snake_case(metric.name),
                ),
            ));
        }
        if let Some(unit) = &u.unit {
            if unit != metric.unit.as_str() {
                return Err(invalid(
                    &u.what,
                    format!(
                        "reads {} in {unit}, but the runtime sends it in {} (rates-contract)",
                        u.metric,
                        metric.unit.as_str()
                    ),
                ));
            }
        }
    }
    Ok(uses)
}

fn show_dimensions(dims: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("[{}]", pairs.join(", "))
}

/// The metrics of the runtime's namespace that alarms (single metric or metric math) and
/// dashboard metric rows (`.` repeating the row above) read.
fn runtime_metric_uses(
    alarms: &str,
    dashboard: &str,
    p: &Profile,
) -> Result<Vec<RuntimeMetricUse>> {
    let namespace = p.observability.metrics_namespace.as_str();
    let mut uses = Vec::new();
    let alarms: Value = serde_json::from_str(alarms)
        .map_err(|e| invalid("cloudwatch/alarms.json", format!("not valid JSON: {e}")))?;
    let dims_of = |dims: &Value| -> BTreeMap<String, String> {
        dims.as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                (text("Name"), text("Value"))
            })
            .collect()
    };
    for alarm in alarms["alarms"].as_array().into_iter().flatten() {
        let what = format!("alarm {}", alarm["AlarmName"].as_str().unwrap_or_default());
        let single = std::iter::once((alarm, &alarm["Unit"]));
        let math = alarm["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| (&m["MetricStat"]["Metric"], &m["MetricStat"]["Unit"]));
        for (metric, unit) in single.chain(math) {
            if metric["Namespace"] == namespace {
                uses.push(RuntimeMetricUse {
                    what: what.clone(),
                    metric: metric["MetricName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    dimensions: dims_of(&metric["Dimensions"]),
                    unit: unit.as_str().map(str::to_string),
                });
            }
        }
    }
    let dashboard: Value = serde_json::from_str(dashboard)
        .map_err(|e| invalid("cloudwatch/dashboard.json", format!("not valid JSON: {e}")))?;
    for (i, widget) in dashboard["widgets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let props = &widget["properties"];
        let what = format!(
            "dashboard widget {i} ({})",
            props["title"].as_str().unwrap_or_default()
        );
        let mut previous: Vec<String> = Vec::new();
        for row in props["metrics"].as_array().into_iter().flatten() {
            let row: Vec<String> = row
                .as_array()
                .into_iter()
                .flatten()
                .map_while(Value::as_str)
                .enumerate()
                .map(|(j, s)| match s {
                    "." => previous.get(j).cloned().unwrap_or_default(),
                    _ => s.to_string(),
                })
                .collect();
            if row.len() >= 2 && row[0] == namespace {
                uses.push(RuntimeMetricUse {
                    what: what.clone(),
                    metric: row[1].clone(),
                    dimensions: row[2..]
                        .chunks(2)
                        .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
                        .collect(),
                    unit: None,
                });
            }
            if !row.is_empty() {
                previous = row;
            }
        }
    }
    Ok(uses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(x: u64, y: u64, metrics: Value) -> Value {
        serde_json::json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": "t", "region": "eu-west-1", "view": "timeSeries", "metrics": metrics}})
    }

    #[test]
    fn dashboards_reject_overlaps_and_bad_metric_rows() {
        let ok = serde_json::json!({"widgets": [widget(0, 0, serde_json::json!([["Rates", "m", "Environment", "dev"], [".", "n", ".", "."]]))]});
        validate_dashboard(&ok.to_string()).unwrap();
        let overlap = serde_json::json!({"widgets": [widget(0, 0, serde_json::json!([["A", "m"]])), widget(6, 3, serde_json::json!([["A", "m"]]))]});
        assert!(validate_dashboard(&overlap.to_string())
            .unwrap_err()
            .to_string()
            .contains("overlaps"));
        let odd = serde_json::json!({"widgets": [widget(0, 0, serde_json::json!([["A", "m", "Environment"]]))]});
        assert!(validate_dashboard(&odd.to_string()).is_err());
        let wide = serde_json::json!({"widgets": [widget(18, 0, serde_json::json!([["A", "m"]]))]});
        assert!(validate_dashboard(&wide.to_string()).is_err());
        let dot = serde_json::json!({"widgets": [widget(0, 0, serde_json::json!([[".", "m"]]))]});
        assert!(validate_dashboard(&dot.to_string()).is_err());
    }
}
