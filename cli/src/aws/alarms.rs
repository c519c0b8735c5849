//! CloudWatch alarms of an environment: the rendered definitions
//! (cloudwatch/alarms.json, PutMetricAlarm inputs), put when new or different, and
//! pruned when they carry this environment's prefix and tag but are no longer rendered.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StandardUnit,
    StateValue, Statistic, Tag,
};
use aws_sdk_cloudwatch::Client;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The tag every envctl alarm carries; pruning only touches alarms with this
/// environment's value (a prefix alone could match another environment's alarms).
pub const ENV_TAG: &str = "envctl.io/environment";

/// cloudwatch/alarms.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsFile {
    pub alarms: Vec<AlarmSpec>,
}

/// One alarm, in PutMetricAlarm's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AlarmSpec {
    pub alarm_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_enabled: Option<bool>,
    #[serde(default, rename = "OKActions")]
    pub ok_actions: Vec<String>,
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<DimensionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub evaluation_periods: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub comparison_operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
    #[serde(default)]
    pub metrics: Vec<MetricQuerySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_metric_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DimensionSpec {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagSpec {
    pub key: String,
    pub value: String,
}

/// One entry of a metric-math alarm's `Metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricQuerySpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStatSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricStatSpec {
    pub metric: MetricSpec,
    pub period: i32,
    pub stat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<DimensionSpec>,
}

/// What a sync did, by alarm name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlarmSync {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub deleted: Vec<String>,
}

impl AlarmSync {
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

/// An alarm's current state, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmState {
    pub name: String,
    pub state: String,
    pub reason: String,
    pub description: Option<String>,
}

/// Parses cloudwatch/alarms.json, substitutes `${alarm_topic_arn}` in the actions and
/// checks that every alarm carries the environment's prefix.
pub fn load(json: &str, file: &str, prefix: &str, topic_arn: &str) -> Result<Vec<AlarmSpec>> {
    let parsed: AlarmsFile = serde_json::from_str(json).map_err(|e| Error::Rendered {
        what: file.to_string(),
        message: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    let mut seen = BTreeSet::new();
    let mut alarms = parsed.alarms;
    for alarm in &mut alarms {
        if !alarm.alarm_name.starts_with(prefix) {
            return Err(Error::Rendered {
                what: file.to_string(),
                message: format!(
                    "alarm `{}` does not start with the environment's prefix `{prefix}` (it could never be pruned)",
                    alarm.alarm_name
                ),
            });
        }
        if !seen.insert(alarm.alarm_name.clone()) {
            return Err(Error::Rendered {
                what: file.to_string(),
                message: format!("alarm `{}` is defined twice", alarm.alarm_name),
            });
        }
        for action in alarm
            .alarm_actions
            .iter_mut()
            .chain(alarm.ok_actions.iter_mut())
            .chain(alarm.insufficient_data_actions.iter_mut())
        {
            *action = action.replace("${alarm_topic_arn}", topic_arn);
        }
    }
    Ok(alarms)
}

impl AlarmSpec {
    /// The spec with AWS's defaults filled in and lists sorted, so a described alarm
    /// and a rendered one compare equal when CloudWatch would not change anything.
    fn normalized(&self) -> AlarmSpec {
        let mut a = self.clone();
        a.actions_enabled.get_or_insert(true);
        a.datapoints_to_alarm.get_or_insert(a.evaluation_periods);
        a.treat_missing_data.get_or_insert_with(|| "missing".into());
        a.dimensions.sort();
        a.ok_actions.sort();
        a.alarm_actions.sort();
        a.insufficient_data_actions.sort();
        a.tags.clear();
        for m in &mut a.metrics {
            if let Some(stat) = &mut m.metric_stat {
                stat.metric.dimensions.sort();
            }
            m.return_data.get_or_insert(true);
        }
        a
    }

    /// Reads a described alarm back into the rendered shape.
    fn from_described(alarm: &MetricAlarm) -> AlarmSpec {
        let dims = |d: &[Dimension]| {
            d.iter()
                .map(|d| DimensionSpec {
                    name: d.name().unwrap_or_default().to_string(),
                    value: d.value().unwrap_or_default().to_string(),
                })
                .collect::<Vec<_>>()
        };
        AlarmSpec {
            alarm_name: alarm.alarm_name().unwrap_or_default().to_string(),
            alarm_description: alarm.alarm_description().map(str::to_string),
            actions_enabled: alarm.actions_enabled(),
            ok_actions: alarm.ok_actions().to_vec(),
            alarm_actions: alarm.alarm_actions().to_vec(),
            insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
            namespace: alarm.namespace().map(str::to_string),
            metric_name: alarm.metric_name().map(str::to_string),
            dimensions: dims(alarm.dimensions()),
            statistic: alarm.statistic().map(|s| s.as_str().to_string()),
            extended_statistic: alarm.extended_statistic().map(str::to_string),
            period: alarm.period(),
            unit: alarm.unit().map(|u| u.as_str().to_string()),
            evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
            datapoints_to_alarm: alarm.datapoints_to_alarm(),
            threshold: alarm.threshold(),
            comparison_operator: alarm
                .comparison_operator()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            treat_missing_data: alarm.treat_missing_data().map(str::to_string),
            evaluate_low_sample_count_percentile: alarm
                .evaluate_low_sample_count_percentile()
                .map(str::to_string),
            metrics: alarm
                .metrics()
                .iter()
                .map(|m| MetricQuerySpec {
                    id: m.id().unwrap_or_default().to_string(),
                    expression: m.expression().map(str::to_string),
                    label: m.label().map(str::to_string),
                    return_data: m.return_data(),
                    period: m.period(),
                    metric_stat: m.metric_stat().map(|s| MetricStatSpec {
                        metric: MetricSpec {
                            namespace: s.metric().and_then(|m| m.namespace()).map(str::to_string),
                            metric_name: s
                                .metric()
                                .and_then(|m| m.metric_name())
                                .map(str::to_string),
                            dimensions: dims(
                                s.metric().map(|m| m.dimensions()).unwrap_or_default(),
                            ),
                        },
                        period: s.period().unwrap_or_default(),
                        stat: s.stat().unwrap_or_default().to_string(),
                        unit: s.unit().map(|u| u.as_str().to_string()),
                    }),
                })
                .collect(),
            threshold_metric_id: alarm.threshold_metric_id().map(str::to_string),
            tags: Vec::new(),
        }
    }
}

/// Every alarm named with `prefix` and tagged with this environment.
pub async fn existing(cw: &Client, prefix: &str, env: &str) -> Result<Vec<MetricAlarm>> {
    let mut found = Vec::new();
    let mut pages = cw
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(Error::aws(format!("cloudwatch:DescribeAlarms {prefix}*")))?;
        found.extend(page.metric_alarms.unwrap_or_default());
    }
    let mut mine = Vec::new();
    for alarm in found {
        let Some(arn) = alarm.alarm_arn() else {
            continue;
        };
        let tags = cw
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(Error::aws(format!("cloudwatch:ListTagsForResource {arn}")))?;
        if tags
            .tags()
            .iter()
            .any(|t| t.key() == Some(ENV_TAG) && t.value() == Some(env))
        {
            mine.push(alarm);
        }
    }
    Ok(mine)
}

/// How one environment's alarms differ from the rendered ones (for `drift`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlarmDrift {
    /// Rendered but not in CloudWatch.
    pub missing: Vec<String>,
    /// This environment's (prefix and tag) but no longer rendered.
    pub extra: Vec<String>,
    /// Alarm name, then `Field: rendered X, described Y` for each field that differs.
    pub changed: Vec<(String, Vec<String>)>,
}

/// Compares the rendered alarms with the described ones, field by field, after filling
/// in AWS's defaults (the same comparison `up` uses to decide what to put).
pub async fn drift(
    cw: &Client,
    desired: &[AlarmSpec],
    prefix: &str,
    env: &str,
) -> Result<AlarmDrift> {
    let current: BTreeMap<String, AlarmSpec> = existing(cw, prefix, env)
        .await?
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default().to_string(),
                AlarmSpec::from_described(a),
            )
        })
        .collect();
    let mut out = AlarmDrift::default();
    for alarm in desired {
        let Some(now) = current.get(&alarm.alarm_name) else {
            out.missing.push(alarm.alarm_name.clone());
            continue;
        };
        let want = serde_json::to_value(alarm.normalized()).unwrap_or_default();
        let have = serde_json::to_value(now.normalized()).unwrap_or_default();
        if want == have {
            continue;
        }
        let mut fields = Vec::new();
        let keys: BTreeSet<&String> = want
            .as_object()
            .into_iter()
            .chain(have.as_object())
            .flat_map(|o| o.keys())
            .collect();
        for key in keys {
            if want.get(key) != have.get(key) {
                let show = |v: Option<&serde_json::Value>| {
                    v.map(|v| v.to_string()).unwrap_or_else(|| "(unset)".into())
                };
                fields.push(format!(
                    "{key}: rendered {}, described {}",
                    show(want.get(key)),
                    show(have.get(key))
                ));
            }
        }
        out.changed.push((alarm.alarm_name.clone(), fields));
    }
    let wanted: BTreeSet<&str> = desired.iter().map(|a| a.alarm_name.as_str()).collect();
    out.extra = current
        .keys()
        .filter(|n| !wanted.contains(n.as_str()))
        .cloned()
        .collect();
    Ok(out)
}

/// Puts every rendered alarm that is new or different, then deletes this
/// environment's alarms that are no longer rendered.
pub async fn sync(
    cw: &Client,
    desired: &[AlarmSpec],
    prefix: &str,
    env: &str,
    tags: &BTreeMap<String, String>,
) -> Result<AlarmSync> {
    let current: BTreeMap<String, AlarmSpec> = existing(cw, prefix, env)
        .await?
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap_or_default().to_string(),
                AlarmSpec::from_described(a),
            )
        })
        .collect();
    let mut result = AlarmSync::default();
    for alarm in desired {
        match current.get(&alarm.alarm_name) {
            Some(now) if now.normalized() == alarm.normalized() => {
                result.unchanged.push(alarm.alarm_name.clone());
                continue;
            }
            Some(_) => result.updated.push(alarm.alarm_name.clone()),
            None => result.created.push(alarm.alarm_name.clone()),
        }
        put(cw, alarm, env, tags).await?;
    }
    let wanted: BTreeSet<&str> = desired.iter().map(|a| a.alarm_name.as_str()).collect();
    let stale: Vec<String> = current
        .keys()
        .filter(|n| !wanted.contains(n.as_str()))
        .cloned()
        .collect();
    delete(cw, &stale).await?;
    result.deleted = stale;
    Ok(result)
}

/// Deletes every alarm of this environment; returns their names.
pub async fn delete_all(cw: &Client, prefix: &str, env: &str) -> Result<Vec<String>> {
    let names: Vec<String> = existing(cw, prefix, env)
        .await?
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect();
    delete(cw, &names).await?;
    Ok(names)
}

/// This environment's alarms with their states, the ones in ALARM first.
pub async fn states(cw: &Client, prefix: &str, env: &str) -> Result<Vec<AlarmState>> {
    let mut states: Vec<AlarmState> = existing(cw, prefix, env)
        .await?
        .iter()
        .map(|a| AlarmState {
            name: a.alarm_name().unwrap_or_default().to_string(),
            state: a
                .state_value()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            reason: a.state_reason().unwrap_or_default().to_string(),
            description: a.alarm_description().map(str::to_string),
        })
        .collect();
    let rank = |s: &str| match StateValue::from(s) {
        StateValue::Alarm => 0,
        StateValue::InsufficientData => 1,
        StateValue::Ok => 2,
        _ => 3,
    };
    states.sort_by(|a, b| {
        rank(&a.state)
            .cmp(&rank(&b.state))
            .then(a.name.cmp(&b.name))
    });
    Ok(states)
}

async fn delete(cw: &Client, names: &[String]) -> Result<()> {
    // DeleteAlarms takes at most 100 names per call.
    for chunk in names.chunks(100) {
        cw.delete_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(Error::aws(format!(
                "cloudwatch:DeleteAlarms {}",
                chunk.join(", ")
            )))?;
    }
    Ok(())
}

async fn put(cw: &Client, a: &AlarmSpec, env: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let dims = |d: &[DimensionSpec]| {
        d.iter()
            .map(|d| Dimension::builder().name(&d.name).value(&d.value).build())
            .collect::<Vec<_>>()
    };
    let mut all_tags: BTreeMap<String, String> = tags.clone();
    all_tags.extend(a.tags.iter().map(|t| (t.key.clone(), t.value.clone())));
    all_tags.insert(ENV_TAG.into(), env.into());
    all_tags.insert("app.kubernetes.io/managed-by".into(), "envctl".into());
    let metrics = a
        .metrics
        .iter()
        .map(|m| {
            let stat = m.metric_stat.as_ref().map(|s| {
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .set_namespace(s.metric.namespace.clone())
                            .set_metric_name(s.metric.metric_name.clone())
                            .set_dimensions(Some(dims(&s.metric.dimensions)))
                            .build(),
                    )
                    .period(s.period)
                    .stat(&s.stat)
                    .set_unit(s.unit.as_deref().map(StandardUnit::from))
                    .build()
            });
            MetricDataQuery::builder()
                .id(&m.id)
                .set_expression(m.expression.clone())
                .set_label(m.label.clone())
                .set_return_data(m.return_data)
                .set_period(m.period)
                .set_metric_stat(stat)
                .build()
        })
        .collect::<Vec<_>>();
    cw.put_metric_alarm()
        .alarm_name(&a.alarm_name)
        .set_alarm_description(a.alarm_description.clone())
        .set_actions_enabled(a.actions_enabled)
        .set_ok_actions(Some(a.ok_actions.clone()))
        .set_alarm_actions(Some(a.alarm_actions.clone()))
        .set_insufficient_data_actions(Some(a.insufficient_data_actions.clone()))
        .set_namespace(a.namespace.clone())
        .set_metric_name(a.metric_name.clone())
        .set_dimensions((!a.dimensions.is_empty()).then(|| dims(&a.dimensions)))
        .set_statistic(a.statistic.as_deref().map(Statistic::from))
        .set_extended_statistic(a.extended_statistic.clone())
        .set_period(a.period)
        .set_unit(a.unit.as_deref().map(StandardUnit::from))
        .evaluation_periods(a.evaluation_periods)
        .set_datapoints_to_alarm(a.datapoints_to_alarm)
        .set_threshold(a.threshold)
        .comparison_operator(ComparisonOperator::from(a.comparison_operator.as_str()))
        .set_treat_missing_data(a.treat_missing_data.clone())
        .set_evaluate_low_sample_count_percentile(a.evaluate_low_sample_count_percentile.clone())
        .set_metrics((!metrics.is_empty()).then_some(metrics))
        .set_threshold_metric_id(a.threshold_metric_id.clone())
        .set_tags(Some(
            all_tags
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(Error::aws(format!(
            "cloudwatch:PutMetricAlarm {}",
            a.alarm_name
        )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_the_topic_and_checks_the_prefix() {
        let json = r#"{"alarms":[{"AlarmName":"rates-dev-api-5xx","Namespace":"Rates","MetricName":"5xx",
            "Statistic":"Sum","Period":60,"EvaluationPeriods":3,"Threshold":5,
            "ComparisonOperator":"GreaterThanThreshold","AlarmActions":["${alarm_topic_arn}"]}]}"#;
        let alarms = load(json, "alarms.json", "rates-dev-", "arn:aws:sns:x").unwrap();
        assert_eq!(alarms[0].alarm_actions, vec!["arn:aws:sns:x"]);
        let err = load(json, "alarms.json", "rates-staging-", "t").unwrap_err();
        assert!(err.to_string().contains("prefix `rates-staging-`"), "{err}");
        let err = load(
            r#"{"alarms":[{"AlarmName":"x","Bogus":1}]}"#,
            "alarms.json",
            "",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("Bogus"), "{err}");
    }
}
