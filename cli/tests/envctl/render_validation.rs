//! envctl's own checks of rendered files reject what the schema tools cannot see:
//! each test breaks one thing in a real render and expects the check to name it.

use std::path::Path;

use envctl::profile::Profile;
use envctl::render::{
    self, validate_alarms, validate_dashboard, validate_manifests, Names, Rendered,
};

use crate::support::repo_root as root;

fn staging() -> (Profile, Rendered) {
    let p = Profile::load(&root(), "staging").unwrap();
    let r = render::render(&root(), &p).unwrap();
    (p, r)
}

/// Replaces `from` by `to` in one rendered file (which must contain it) and runs the
/// manifest checks.
fn manifests_after(file: &str, from: &str, to: &str) -> String {
    let (p, mut r) = staging();
    let text = r.files.get_mut(Path::new(file)).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    *text = text.replacen(from, to, 1);
    match validate_manifests(&r, &p, &Names::of(&p)) {
        Ok(_) => panic!("breaking {file} ({from} -> {to}) was not noticed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_real_render_passes() {
    let (p, r) = staging();
    let summary = validate_manifests(&r, &p, &Names::of(&p)).unwrap();
    assert_eq!(summary.deployments, ["rates-api", "rates-worker"]);
}

#[test]
fn rollouts_must_keep_every_replica_up() {
    let err = manifests_after("k8s/40-api.yaml", "maxUnavailable: 0", "maxUnavailable: 1");
    assert!(err.contains("maxUnavailable: 0"), "{err}");
}

#[test]
fn pods_must_be_hardened() {
    let err = manifests_after(
        "k8s/50-worker.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    );
    assert!(err.contains("readOnlyRootFilesystem"), "{err}");
    let err = manifests_after(
        "k8s/30-migrate-job.yaml",
        "drop: [\"ALL\"]",
        "drop: [\"NET_RAW\"]",
    );
    assert!(err.contains("drop ALL"), "{err}");
}

#[test]
fn grace_periods_must_outlast_the_drain() {
    let err = manifests_after(
        "k8s/40-api.yaml",
        "terminationGracePeriodSeconds: 60",
        "terminationGracePeriodSeconds: 20",
    );
    assert!(err.contains("must exceed the drain timeout"), "{err}");
}

#[test]
fn every_object_carries_the_prune_label() {
    let err = manifests_after(
        "k8s/20-network-policy.yaml",
        "envctl.io/environment: \"staging\"",
        "envctl.io/environment: \"other\"",
    );
    assert!(err.contains("envctl.io/environment"), "{err}");
}

#[test]
fn keda_objects_are_checked_field_by_field() {
    let err = manifests_after("k8s/50-worker.yaml", "minReplicaCount:", "minReplicas:");
    assert!(
        err.contains("spec.minReplicas is not a field KEDA knows"),
        "{err}"
    );
    let err = manifests_after("k8s/50-worker.yaml", "queueLength: \"2\"", "queueLength: 2");
    assert!(err.contains("must be a string"), "{err}");
    let err = manifests_after(
        "k8s/50-worker.yaml",
        "  scaleTargetRef:\n    name: rates-worker",
        "  scaleTargetRef:\n    name: rates-workers",
    );
    assert!(err.contains("not rendered"), "{err}");
    let err = manifests_after(
        "k8s/50-worker.yaml",
        "name: rates-worker-aws\n",
        "name: rates-worker-creds\n",
    );
    assert!(
        err.contains("authenticationRef rates-worker-creds is not rendered"),
        "{err}"
    );
}

#[test]
fn alarms_are_checked_against_the_api() {
    let (p, r) = staging();
    let alarms = &r.files[Path::new("cloudwatch/alarms.json")];
    validate_alarms(alarms, &p).unwrap();
    for (from, to, expect) in [
        (
            "\"GreaterThanThreshold\"",
            "\"Above\"",
            "ComparisonOperator",
        ),
        (
            "\"Statistic\": \"Maximum\"",
            "\"Statistic\": \"Max\"",
            "Statistic",
        ),
        (
            "\"rates-staging-dlq-not-empty\"",
            "\"dlq-not-empty\"",
            "must start with rates-staging-",
        ),
        (
            "\"DatapointsToAlarm\": 3",
            "\"DatapointsToAlarm\": 9",
            "DatapointsToAlarm",
        ),
        (
            "\"ReturnData\": true",
            "\"ReturnData\": false",
            "exactly one metric must return data",
        ),
    ] {
        assert!(alarms.contains(from), "alarms.json has no {from}");
        let err = validate_alarms(&alarms.replacen(from, to, 1), &p)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{from} -> {to}: {err}");
    }
}

#[test]
fn the_dashboard_grid_and_metric_rows_are_checked() {
    let (_, r) = staging();
    let dashboard = &r.files[Path::new("cloudwatch/dashboard.json")];
    validate_dashboard(dashboard).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    doc["widgets"][2]["x"] = serde_json::json!(6);
    let err = validate_dashboard(&doc.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("overlaps") || err.contains("grid"), "{err}");
    let mut doc: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    doc["widgets"][1]["properties"]["metrics"][0] =
        serde_json::json!(["Rates", "RowsPerSecond", "Environment"]);
    let err = validate_dashboard(&doc.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("namespace, metric, dim, value"), "{err}");
}
