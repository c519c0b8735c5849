//! Deploys that watch themselves: the bake after `up` (rollback alarms in moto, set with
//! SetAlarmState), the automatic rollback, `rollback`, `history` and the per-environment
//! deploy lock (releases and lock in moto's state bucket), through the real binary with
//! the terraform stand-in and the in-test Kubernetes API.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use rates_contract::CONTRACT_VERSION;
use serde_json::Value;

use crate::support::{Envctl, Run, World, ACCOUNT, PROFILE_IMAGE_TAG, REGION};

const NS: &str = "rates-staging";
const SHA: &str = "5c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";
const P99: &str = "rates-staging-api-p99-latency";
const FIVE_XX: &str = "rates-staging-api-5xx-rate";

fn bucket() -> String {
    format!("envctl-tfstate-{ACCOUNT}-{REGION}")
}

/// `envctl` with a bake of `bake_ms` polled every 100 ms (debug-build test hooks).
fn envctl(w: &World, bake_ms: u64) -> Envctl {
    let mut cmd = w.envctl();
    cmd.env("ENVCTL_BAKE_MS", bake_ms.to_string())
        .env("ENVCTL_BAKE_POLL_MS", "100")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567");
    cmd
}

fn up(w: &World, tag: Option<&str>, bake_ms: u64) -> Run {
    let mut cmd = envctl(w, bake_ms);
    cmd.args([
        "up",
        "staging",
        "--yes",
        "--output",
        "json",
        "--timeout",
        "20s",
    ]);
    if let Some(tag) = tag {
        cmd.args(["--image-tag", tag]);
    }
    cmd.run()
}

fn history(w: &World) -> Vec<Value> {
    let out = w
        .envctl()
        .args(["--output", "json", "history", "staging"])
        .succeeds();
    out.result()["history"]["releases"]
        .as_array()
        .unwrap()
        .clone()
}

fn images(w: &World) -> Vec<String> {
    let mut images: Vec<String> = w
        .kube
        .keys()
        .iter()
        .filter(|(p, ns, _)| p == "deployments" && ns == NS)
        .map(|(_, ns, name)| {
            w.kube.get("deployments", ns, name).unwrap()["spec"]["template"]["spec"]["containers"]
                [0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    images.dedup();
    images
}

fn image(tag: &str) -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/rates-staging:{tag}")
}

fn set_alarm(w: &World, name: &str, state: StateValue) {
    let cw = aws_sdk_cloudwatch::Client::new(&w.sdk());
    w.rt.block_on(
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason(
                "Threshold Crossed: 3 out of the last 5 datapoints were greater than the threshold",
            )
            .send(),
    )
    .unwrap();
}

fn world() -> World {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.push_image("staging", SHA, Some(&CONTRACT_VERSION.to_string()));
    w
}

#[test]
fn a_clean_bake_exits_0_and_records_the_release_once() {
    let w = world();
    let out = up(&w, None, 600);
    assert_eq!(out.code, 0, "{out}");
    let events = out.events();
    let bake = events
        .iter()
        .find(|e| {
            e["event"] == "step_finished"
                && e["step"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("baking revision 1"))
        })
        .unwrap_or_else(|| panic!("a bake step in the event stream: {out}"));
    assert!(bake["step"].as_str().unwrap().contains(FIVE_XX), "{bake}");
    assert!(bake["step"].as_str().unwrap().contains(P99), "{bake}");
    assert!(
        bake["step"]
            .as_str()
            .unwrap()
            .contains("rates-staging-batches-failed"),
        "{bake}"
    );
    assert!(
        !bake["step"].as_str().unwrap().contains("database-cpu"),
        "only alarms tagged as rollback alarms: {bake}"
    );
    assert!(events.iter().any(|e| e["event"] == "release"), "{out}");
    let result = out.result()["up"].clone();
    assert_eq!(result["release"]["revision"], 1);
    assert_eq!(result["release"]["outcome"], "succeeded");

    // The same release again: nothing new to bake or record.
    let again = up(&w, None, 600);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.result()["up"]["release"].is_null(), "{again}");
    assert!(!again.stdout.contains("baking revision"), "{again}");

    let releases = history(&w);
    assert_eq!(releases.len(), 1, "{releases:?}");
    let r = &releases[0];
    assert_eq!(r["image_tag"], PROFILE_IMAGE_TAG);
    assert_eq!(r["image"], image(PROFILE_IMAGE_TAG));
    assert_eq!(r["commit"], "0123456789abcdef0123456789abcdef01234567");
    assert!(
        r["applied_by"].as_str().unwrap().starts_with("arn:aws:"),
        "{r}"
    );
    assert!(
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.as_str().unwrap().starts_with("Secret/rates-database ")),
        "the Secret the Deployments read is part of the release: {r}"
    );
    assert!(
        !r["objects"].to_string().contains("rates-database-admin"),
        "the migration Job's Secret is not: {r}"
    );
    let text = w.envctl().args(["history", "staging"]).succeeds().stdout;
    assert!(
        text.contains("REVISION") && text.contains("succeeded"),
        "{text}"
    );
}

#[test]
fn an_alarm_firing_during_the_bake_rolls_back_to_the_previous_release() {
    let w = world();
    assert_eq!(up(&w, None, 300).code, 0);
    let job_before = w
        .kube
        .keys()
        .into_iter()
        .filter(|(p, ns, _)| p == "jobs" && ns == NS)
        .count();

    // The new release bakes for up to a minute; the alarm fires once the bake started.
    let mut cmd = w.envctl_std();
    cmd.env("ENVCTL_BAKE_MS", "60000")
        .env("ENVCTL_BAKE_POLL_MS", "100")
        .args([
            "up",
            "staging",
            "--yes",
            "--output",
            "json",
            "--timeout",
            "20s",
            "--image-tag",
            SHA,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let started = std::time::Instant::now();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("envctl ended before baking: {lines:?}");
        }
        lines.push(line.clone());
        if line.contains("step_started") && line.contains("baking revision 2") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{lines:?}");
    }
    assert_eq!(images(&w), [image(SHA)], "the new release rolled out first");
    set_alarm(&w, FIVE_XX, StateValue::Alarm);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let stderr = crate::support::normalize(&stderr);
    assert_eq!(status.code(), Some(1), "{stderr}\n{rest}");
    assert!(
        stderr.contains(&format!("bake failed: {FIVE_XX} fired at")),
        "names the alarm: {stderr}"
    );
    assert!(
        stderr.contains("rolled back to revision 1 (image 0.1.0), now running as revision 3"),
        "{stderr}"
    );
    assert!(
        rest.contains("\"event\":\"bake_fired\"") && rest.contains("\"event\":\"rolled_back\""),
        "{rest}"
    );

    // The previous release runs again; the newer migration Job is not replaced by the older.
    assert_eq!(images(&w), [image(PROFILE_IMAGE_TAG)]);
    let jobs: Vec<Value> = w
        .kube
        .keys()
        .into_iter()
        .filter(|(p, ns, _)| p == "jobs" && ns == NS)
        .map(|(_, ns, name)| w.kube.get("jobs", &ns, &name).unwrap())
        .collect();
    assert_eq!(jobs.len(), job_before);
    assert!(
        jobs.iter()
            .all(|j| j["spec"]["template"]["spec"]["containers"][0]["image"] == image(SHA)),
        "migrations only go forward: {jobs:?}"
    );
    // And the older runtime does not migrate by itself: sqlx would refuse schema N
    // (docs/operations.md, "Migrations go forward only").
    let config = w
        .kube
        .get("configmaps", NS, "rates-config")
        .expect("rates-config");
    assert_eq!(config["data"]["RATES_MIGRATE_ON_START"], "false");
    for (_, ns, name) in w
        .kube
        .keys()
        .iter()
        .filter(|(p, ns, _)| p == "deployments" && ns == NS)
    {
        let d = w.kube.get("deployments", ns, name).unwrap();
        let args = d["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(!args.contains("migrate"), "{name}: {args}");
        assert!(
            d["spec"]["template"]["spec"]["containers"][0]["envFrom"]
                .to_string()
                .contains("rates-config"),
            "{name} reads rates-config"
        );
    }

    let releases = history(&w);
    let outcomes: Vec<(u64, &str, Option<u64>)> = releases
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["rollback_of"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, "succeeded", None),
            (2, "rolled_back", None),
            (3, "succeeded", Some(1))
        ]
    );
    assert!(
        releases[1]["detail"].as_str().unwrap().contains(FIVE_XX),
        "{:?}",
        releases[1]
    );

    // With the alarm still firing, the next up is refused before anything is applied.
    let plans = w
        .terraform_calls()
        .iter()
        .filter(|c| c.starts_with("plan"))
        .count();
    let refused = up(&w, Some(SHA), 300);
    assert_eq!(refused.code, 1, "{refused}");
    refused.says(&format!("rollback alarm {FIVE_XX} (since"));
    refused.says("already in ALARM before the rollout; nothing was applied");
    refused.says("--ignore-firing-alarms");
    assert_eq!(
        w.terraform_calls()
            .iter()
            .filter(|c| c.starts_with("plan"))
            .count(),
        plans,
        "refused before Terraform"
    );
    assert_eq!(images(&w), [image(PROFILE_IMAGE_TAG)]);
    // Deploying the fix through it: the bake ignores the alarm while it stays in ALARM.
    let mut through = envctl(&w, 500);
    let out = through
        .args([
            "up",
            "staging",
            "--yes",
            "--output",
            "json",
            "--timeout",
            "20s",
            "--image-tag",
            SHA,
            "--ignore-firing-alarms",
        ])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.result()["up"]["release"]["revision"], 4);
    assert_eq!(images(&w), [image(SHA)]);
}

#[test]
fn a_bake_with_no_earlier_good_release_says_nothing_was_rolled_back() {
    let w = world();
    // First deploy: the alarms are created with it, so fire one as soon as the bake starts
    // by making it ALARM right after the rollout (a poll sees it on its first look).
    let mut cmd = w.envctl_std();
    cmd.env("ENVCTL_BAKE_MS", "60000")
        .env("ENVCTL_BAKE_POLL_MS", "100")
        .args([
            "up",
            "staging",
            "--yes",
            "--output",
            "json",
            "--timeout",
            "20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "ended before baking"
        );
        if line.contains("step_started") && line.contains("baking revision 1") {
            break;
        }
    }
    set_alarm(&w, P99, StateValue::Alarm);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let stderr = crate::support::normalize(&stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{P99} fired at")), "{stderr}");
    assert!(
        stderr
            .contains("nothing was rolled back: no earlier release of this environment succeeded"),
        "{stderr}"
    );
    let releases = history(&w);
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["outcome"], "failed");
}

#[test]
fn rollback_and_history_round_trip() {
    let w = world();
    assert_eq!(up(&w, None, 0).code, 0);
    assert_eq!(up(&w, Some(SHA), 0).code, 0);
    assert_eq!(images(&w), [image(SHA)]);

    // Nothing given: the newest earlier release that succeeded.
    let out = envctl(&w, 0)
        .args([
            "--output",
            "json",
            "rollback",
            "staging",
            "--timeout",
            "20s",
        ])
        .succeeds();
    let result = out.result()["rollback"].clone();
    assert_eq!(result["to"]["revision"], 1);
    assert_eq!(result["from"]["revision"], 2);
    assert_eq!(result["now"]["revision"], 3);
    assert_eq!(images(&w), [image(PROFILE_IMAGE_TAG)]);
    assert!(out.events().iter().any(|e| e["event"] == "rollback_target"));

    // Back to the newer one by revision.
    let text = envctl(&w, 0)
        .args(["rollback", "staging", "--to", "2", "--timeout", "20s"])
        .succeeds()
        .stdout;
    assert!(
        text.contains("staging is rolled back to revision 2 (5c1d0e9f"),
        "{text}"
    );
    assert_eq!(images(&w), [image(SHA)]);

    let releases = history(&w);
    let rows: Vec<(u64, &str, Option<u64>, &str)> = releases
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["rollback_of"].as_u64(),
                r["image_tag"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "succeeded", None, PROFILE_IMAGE_TAG),
            (2, "rolled_back", None, SHA),
            (3, "rolled_back", Some(1), PROFILE_IMAGE_TAG),
            (4, "succeeded", Some(2), SHA),
        ]
    );
    // The same digest as revision 2: up finds nothing new to record.
    let again = up(&w, Some(SHA), 0);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.result()["up"]["release"].is_null(), "{again}");

    envctl(&w, 0)
        .args(["rollback", "staging", "--to", "99"])
        .fails()
        .says("there is no revision 99");
    assert_eq!(images(&w), [image(SHA)]);

    // The history goes with the environment.
    w.envctl().args(["down", "staging", "--yes"]).succeeds();
    assert!(history(&w).is_empty());
}

fn put_lock(w: &World, expires_in_secs: i64) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&w.sdk())
            .force_path_style(true)
            .build(),
    );
    let now = chrono::Utc::now();
    let body = serde_json::json!({
        "holder": "arn:aws:sts::123456789012:assumed-role/deployer/alice",
        "command": "up",
        "host": "laptop",
        "pid": 4242,
        "acquired_at": now.to_rfc3339(),
        "expires_at": (now + chrono::TimeDelta::seconds(expires_in_secs)).to_rfc3339(),
    });
    w.rt.block_on(
        s3.put_object()
            .bucket(bucket())
            .key("envctl/locks/staging.json")
            .body(body.to_string().into_bytes().into())
            .send(),
    )
    .unwrap();
}

fn lock_exists(w: &World) -> bool {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&w.sdk())
            .force_path_style(true)
            .build(),
    );
    w.rt.block_on(
        s3.head_object()
            .bucket(bucket())
            .key("envctl/locks/staging.json")
            .send(),
    )
    .is_ok()
}

#[test]
fn one_lock_per_environment_keeps_up_and_rollback_apart() {
    let w = world();
    assert_eq!(up(&w, None, 0).code, 0);
    assert!(!lock_exists(&w), "released after up");
    assert_eq!(up(&w, Some(SHA), 0).code, 0);

    put_lock(&w, 600);
    let plans = w
        .terraform_calls()
        .iter()
        .filter(|c| c.starts_with("plan"))
        .count();
    let refused = up(&w, None, 0);
    assert_eq!(refused.code, 1, "{refused}");
    refused
        .says("environment `staging` is locked: `up` by arn:aws:sts::123456789012:assumed-role/deployer/alice on laptop (pid 4242)")
        .says("releases it by itself at");
    assert_eq!(
        w.terraform_calls()
            .iter()
            .filter(|c| c.starts_with("plan"))
            .count(),
        plans,
        "nothing ran under someone else's lock"
    );
    envctl(&w, 0)
        .args(["rollback", "staging"])
        .fails()
        .says("environment `staging` is locked");
    assert_eq!(images(&w), [image(SHA)], "the rollback did not run");
    // history reads without the lock.
    assert_eq!(history(&w).len(), 2);

    // A lock whose holder died expires, and the next run takes it over.
    put_lock(&w, -5);
    envctl(&w, 0)
        .args(["rollback", "staging", "--timeout", "20s"])
        .succeeds();
    assert_eq!(images(&w), [image(PROFILE_IMAGE_TAG)]);
    assert!(!lock_exists(&w));
}

#[test]
fn a_bake_shorter_than_the_rollback_alarms_window_is_refused_with_file_line_and_key() {
    let w = World::new();
    w.edit_profile("staging", |doc| {
        doc["deploy"]["bake"] = serde_yaml::Value::from("2m");
    });
    w.envctl()
        .args(["render", "staging"])
        .fails()
        .says("environments/staging.yaml")
        .says("`deploy.bake`: a bake of 2m ends before the rollback alarms can fire on the new release (5 periods of 60s, plus 2m for metric delivery)")
        .says("set it to 0s (no bake) or at least 7m");
    w.edit_profile("staging", |doc| {
        doc["deploy"]["bake"] = serde_yaml::Value::from("ten minutes");
    });
    w.envctl()
        .args(["render", "staging"])
        .fails()
        .says("`ten minutes` is not a duration");
}
