//! The bake after a rollout: for the profile's `deploy.bake`, `up` watches the rollback
//! alarms (the rendered alarms tagged `envctl.io/rollback`) and the smoke test; what fires
//! first is returned so `up` can roll the release back. The bake is never shorter than the
//! rollback alarms' evaluation window plus the metric delivery delay.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::AlarmSpec;
use crate::kube::cluster::ClusterAccess;
use crate::profile::METRIC_DELIVERY_DELAY;
use crate::test_hooks;
use crate::ui::Step;
use crate::{Error, Result};

/// The tag that marks a rendered alarm as a rollback alarm.
pub const ROLLBACK_TAG: &str = "envctl.io/rollback";
/// How often the bake looks at the alarms and the smoke test.
const POLL: Duration = Duration::from_secs(15);
/// Consecutive failed readiness checks that count as the smoke test firing (one failed
/// request through a load balancer is not yet a broken release).
const SMOKE_FAILURES: u32 = 3;

/// The rollback alarms of a render.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RollbackAlarms {
    pub names: Vec<String>,
    /// The longest evaluation window among them (periods × evaluation periods).
    #[serde(with = "humantime_secs")]
    pub window: Duration,
}

mod humantime_secs {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// The alarms tagged as rollback alarms, and their window.
pub fn rollback_alarms(specs: &[AlarmSpec]) -> RollbackAlarms {
    let mut out = RollbackAlarms::default();
    for spec in specs {
        if !spec
            .tags
            .iter()
            .any(|t| t.key == ROLLBACK_TAG && t.value == "true")
        {
            continue;
        }
        let period = spec
            .period
            .into_iter()
            .chain(
                spec.metrics
                    .iter()
                    .filter_map(|m| m.metric_stat.as_ref().map(|s| s.period)),
            )
            .chain(spec.metrics.iter().filter_map(|m| m.period))
            .max()
            .unwrap_or(60)
            .max(0) as u64;
        let window = Duration::from_secs(period * spec.evaluation_periods.max(1) as u64);
        out.window = out.window.max(window);
        out.names.push(spec.alarm_name.clone());
    }
    out
}

/// How long to bake: the profile's time, at least the alarms' window plus the metric
/// delivery delay (0 stays 0: no bake). A debug build may shorten it for the tests.
pub fn bake_time(profile_bake: Duration, alarms: &RollbackAlarms) -> (Duration, Option<String>) {
    if let Some(ms) = test_hooks::var(test_hooks::BAKE_MS).and_then(|v| v.parse::<u64>().ok()) {
        return (Duration::from_millis(ms), None);
    }
    if profile_bake.is_zero() {
        return (Duration::ZERO, None);
    }
    let floor = alarms.window + METRIC_DELIVERY_DELAY;
    if profile_bake < floor {
        return (
            floor,
            Some(format!(
                "deploy.bake {} is shorter than the rollback alarms' window plus metric delivery: baking {}",
                humantime::format_duration(profile_bake),
                humantime::format_duration(floor)
            )),
        );
    }
    (profile_bake, None)
}

fn poll_interval() -> Duration {
    test_hooks::var(test_hooks::BAKE_POLL_MS)
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(POLL)
}

/// An alarm in ALARM.
#[derive(Debug, Clone, Serialize)]
pub struct Firing {
    pub name: String,
    pub reason: String,
    pub since: Option<String>,
}

/// The named alarms that are in ALARM now (alarms that do not exist yet are not).
pub async fn firing(cw: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<Firing>> {
    let mut out = Vec::new();
    // DescribeAlarms takes at most 100 names per call.
    for chunk in names.chunks(100) {
        let resp = cw
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .state_value(StateValue::Alarm)
            .send()
            .await
            .map_err(Error::aws("cloudwatch:DescribeAlarms (rollback alarms)"))?;
        for alarm in resp.metric_alarms() {
            if alarm.state_value() != Some(&StateValue::Alarm) {
                continue;
            }
            out.push(Firing {
                name: alarm.alarm_name().unwrap_or_default().to_string(),
                reason: alarm.state_reason().unwrap_or_default().to_string(),
                since: alarm.state_updated_timestamp().map(|t| t.to_string()),
            });
        }
    }
    Ok(out)
}

/// What ended a bake early.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    /// The alarm's name, or `smoke test of URL`.
    pub what: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Watches for `bake`: returns what fired first, or `None` after a clean bake. Alarms in
/// `already_firing` (in ALARM before the rollout, deployed through with
/// `--ignore-firing-alarms`) count again once they have left ALARM.
pub async fn watch(
    cw: &aws_sdk_cloudwatch::Client,
    alarms: &RollbackAlarms,
    bake: Duration,
    probes: &[super::smoke::Probe],
    access: &mut ClusterAccess,
    already_firing: &BTreeSet<String>,
    step: &Step,
) -> Result<Option<Fired>> {
    let started = Instant::now();
    let poll = poll_interval();
    let mut ignored = already_firing.clone();
    let mut smoke_failures = vec![0u32; probes.len()];
    loop {
        let now_firing = firing(cw, &alarms.names).await?;
        let names: BTreeSet<String> = now_firing.iter().map(|f| f.name.clone()).collect();
        ignored.retain(|n| names.contains(n));
        if let Some(f) = now_firing.into_iter().find(|f| !ignored.contains(&f.name)) {
            return Ok(Some(Fired {
                what: f.name,
                reason: f.reason,
                at: Utc::now(),
            }));
        }
        let kube = if probes.is_empty() {
            None
        } else {
            Some(access.client().await?)
        };
        for (probe, failures) in probes.iter().zip(smoke_failures.iter_mut()) {
            let Some(kube) = &kube else { break };
            let url = &probe.url;
            let problem = probe.check(kube).await.err();
            match problem {
                None => *failures = 0,
                Some(problem) => {
                    *failures += 1;
                    if *failures >= SMOKE_FAILURES {
                        return Ok(Some(Fired {
                            what: format!("smoke test of {url}"),
                            reason: format!("{SMOKE_FAILURES} readiness checks in a row failed (last: {problem})"),
                            at: Utc::now(),
                        }));
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        if elapsed >= bake {
            return Ok(None);
        }
        step.update(&format!(
            "{} of {} watched; {} rollback alarms OK",
            humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
            humantime::format_duration(bake),
            alarms.names.len()
        ));
        tokio::time::sleep(poll.min(bake - elapsed)).await;
    }
}
