//! `envctl drift`: one report across Terraform (a refresh-only plan from the terraform
//! stand-in, which exits like Terraform 1.15 core), Kubernetes (the in-test API server,
//! edited as `kubectl edit` and an autoscaler would) and CloudWatch (moto). Exit codes:
//! 0 no drift, 2 drift, 1 error.

use serde_json::{json, Value};

use crate::support::{plan_fixture, World};

const NS: &str = "rates-staging";

fn drift(w: &World, env: &[(&str, String)]) -> (i32, Value, String) {
    let mut cmd = w.envctl();
    cmd.args(["--output", "json", "drift", "staging"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.run();
    assert!(out.code == 0 || out.code == 2, "drift failed: {out}");
    for line in out.stdout.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("every stdout line is a JSON event ({e}): {line}"));
    }
    let result = out.result()["drift"].clone();
    (out.code, result, out.stdout.clone())
}

fn items<'a>(report: &'a Value, layer: &str, kind: &str) -> Vec<&'a Value> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["layer"] == layer && i["kind"] == kind)
        .collect()
}

/// Puts an alarm again as someone in the console would, with another threshold.
fn change_threshold(w: &World, name: &str, threshold: f64) {
    let cw = aws_sdk_cloudwatch::Client::new(&w.sdk());
    let alarm = w
        .alarms()
        .into_iter()
        .find(|a| a.alarm_name() == Some(name))
        .unwrap();
    w.rt.block_on(
        cw.put_metric_alarm()
            .alarm_name(name)
            .set_alarm_description(alarm.alarm_description().map(str::to_string))
            .set_actions_enabled(alarm.actions_enabled())
            .set_ok_actions(Some(alarm.ok_actions().to_vec()))
            .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
            .set_insufficient_data_actions(Some(alarm.insufficient_data_actions().to_vec()))
            .set_namespace(alarm.namespace().map(str::to_string))
            .set_metric_name(alarm.metric_name().map(str::to_string))
            .set_dimensions(Some(alarm.dimensions().to_vec()))
            .set_extended_statistic(alarm.extended_statistic().map(str::to_string))
            .set_statistic(alarm.statistic().cloned())
            .set_period(alarm.period())
            .set_evaluation_periods(alarm.evaluation_periods())
            .set_datapoints_to_alarm(alarm.datapoints_to_alarm())
            .threshold(threshold)
            .set_comparison_operator(alarm.comparison_operator().cloned())
            .set_treat_missing_data(alarm.treat_missing_data().map(str::to_string))
            .tags(
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key("envctl.io/environment")
                    .value("staging")
                    .build(),
            )
            .send(),
    )
    .unwrap();
}

#[test]
fn drift_reports_every_layer_and_exits_0_2_or_1() {
    // Stand-in: a refresh that finds drift (TF_STANDIN_REFRESH); the stubs' refresh returns the stored state, so real core cannot report drift here.
    let w = World::with_standin();
    // Never deployed: an error, not "no drift".
    w.envctl()
        .args(["drift", "staging"])
        .exits(1)
        .says("it was never deployed");

    w.provision_infrastructure("staging");
    w.envctl()
        .env("ENVCTL_BAKE_MS", "0")
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .succeeds();

    // Just deployed: no drift.
    let (code, report, stdout) = drift(&w, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["drift"], false);
    assert!(
        stdout.contains("\"step\":\"terraform: refresh-only plan\""),
        "{stdout}"
    );
    assert!(w
        .terraform_calls()
        .iter()
        .any(|c| c.starts_with("plan -refresh-only")
            && c.contains("-detailed-exitcode")
            && c.contains("-lock=false")));

    // Expected differences are not drift: the autoscaler's replicas (another manager's
    // field), the migration Job gone after its TTL, RDS's own minor version upgrade.
    w.kube.update_as(
        "deployments",
        NS,
        "rates-api",
        "horizontal-pod-autoscaler",
        Some("scale"),
        |d| d["spec"]["replicas"] = json!(7),
    );
    let job = w
        .kube
        .keys()
        .into_iter()
        .find(|(p, ns, _)| p == "jobs" && ns == NS)
        .unwrap();
    let (status, _) = w.kube.request(
        "DELETE",
        &format!("/apis/batch/v1/namespaces/{NS}/jobs/{}", job.2),
        None,
    );
    assert_eq!(status, 200);
    let only_rds = w.root().join("refresh-rds.json");
    let mut fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(plan_fixture("plan-refresh-drift.json")).unwrap(),
    )
    .unwrap();
    fixture["resource_drift"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    std::fs::write(&only_rds, fixture.to_string()).unwrap();
    let (code, report, _) = drift(
        &w,
        &[("TF_STANDIN_REFRESH", only_rds.display().to_string())],
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        report["expected"]
            .to_string()
            .contains("removed by its TTL"),
        "{report}"
    );
    assert!(
        report["terraform"]["expected"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("RDS upgraded the minor engine version by itself"),
        "{report}"
    );

    // Drift in each layer.
    // An edit of a field envctl applies (`kubectl edit` takes its ownership).
    w.kube
        .update_as("deployments", NS, "rates-api", "kubectl-edit", None, |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("attacker/rates:evil")
        });
    // A managed object deleted by hand.
    let (status, _) = w.kube.request(
        "DELETE",
        &format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/rates-api"),
        None,
    );
    assert_eq!(status, 200, "staging renders the api PodDisruptionBudget");
    // An alarm threshold changed in the console.
    change_threshold(&w, "rates-staging-api-p99-latency", 99999.0);
    let (code, report, _) = drift(
        &w,
        &[(
            "TF_STANDIN_REFRESH",
            plan_fixture("plan-refresh-drift.json")
                .display()
                .to_string(),
        )],
    );
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["drift"], true);
    let changed = items(&report, "kubernetes", "changed");
    assert_eq!(changed.len(), 1, "only the edited Deployment: {report:#}");
    assert!(changed[0]["object"]
        .as_str()
        .unwrap()
        .starts_with("Deployment/rates-api "));
    let details = changed[0]["details"].to_string();
    assert!(
        details.contains("spec.template.spec.containers[name=api].image")
            && details.contains("attacker/rates:evil"),
        "{details}"
    );
    assert!(
        !details.contains("replicas"),
        "the autoscaler's field is not envctl's: {details}"
    );
    let missing = items(&report, "kubernetes", "missing");
    assert_eq!(missing.len(), 1, "{report:#}");
    assert!(missing[0]["object"]
        .as_str()
        .unwrap()
        .starts_with("PodDisruptionBudget/rates-api "));
    let alarms = items(&report, "cloudwatch", "changed");
    assert_eq!(alarms.len(), 1, "{report:#}");
    assert_eq!(alarms[0]["object"], "alarm rates-staging-api-p99-latency");
    assert!(
        alarms[0]["details"]
            .to_string()
            .contains("Threshold: rendered 1500.0, described 99999.0"),
        "{report:#}"
    );
    let tf = &report["terraform"];
    assert_eq!(tf["drift"].as_array().unwrap().len(), 1, "{tf}");
    assert_eq!(
        tf["drift"][0]["address"],
        "module.database.aws_security_group.this"
    );
    assert_eq!(tf["drift"][0]["attributes"][0], "ingress[0].cidr_blocks[0]");
    assert_eq!(
        tf["expected"].as_array().unwrap().len(),
        1,
        "the RDS upgrade stays expected: {tf}"
    );

    // The text report names each, for a person or a job summary.
    let text = w
        .envctl()
        .env(
            "TF_STANDIN_REFRESH",
            plan_fixture("plan-refresh-drift.json"),
        )
        .args(["drift", "staging"])
        .exits(2)
        .stdout;
    for expected in [
        "staging: DRIFT",
        "module.database.aws_security_group.this changed outside Terraform: ingress[0].cidr_blocks[0]",
        "Deployment/rates-api (namespace rates-staging) changed",
        "PodDisruptionBudget/rates-api (namespace rates-staging) missing",
        "alarm rates-staging-api-p99-latency changed",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }

    // `up` puts it all back: no drift again.
    w.envctl()
        .env("ENVCTL_BAKE_MS", "0")
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .succeeds();
    let (code, report, _) = drift(&w, &[]);
    assert_eq!(code, 0, "{report:#}");
}
