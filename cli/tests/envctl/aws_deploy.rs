//! `envctl up`, `status` and `down` end to end: real AWS APIs (CloudFormation, EKS,
//! Secrets Manager, CloudWatch, STS) on the moto server through the real SDK clients;
//! Terraform through real Terraform core applying the rendered root (the happy path and
//! `down`) or the terraform STAND-IN where a test says why, and Kubernetes through the
//! in-test API server STAND-IN (support/).

use crate::support::{says, World};
use base64::Engine as _;
use predicates::str::contains;
use rates_contract::CONTRACT_VERSION;
use serde_json::{json, Value};

const NS: &str = "rates-staging";

fn up_json(w: &World, env: &str) -> Value {
    let out = w
        .envctl()
        .args(["up", env, "--yes", "--output", "json", "--timeout", "20s"])
        .succeeds();
    for line in out.stdout.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("every stdout line is a JSON event ({e}): {line}"));
    }
    let lines = out.events();
    assert!(
        lines.iter().any(|l| l["event"] == "step_finished"),
        "progress events precede the result"
    );
    lines.last().unwrap()["up"].clone()
}

fn seed_alarm(w: &World, name: &str, env: &str) {
    let cw = aws_sdk_cloudwatch::Client::new(&w.sdk());
    w.rt.block_on(
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("Rates")
            .metric_name("Old")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .tags(
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key("envctl.io/environment")
                    .value(env)
                    .build(),
            )
            .send(),
    )
    .unwrap();
}

fn env_labels() -> Value {
    json!({
        "app.kubernetes.io/part-of": "rates",
        "app.kubernetes.io/managed-by": "envctl",
        "envctl.io/environment": "staging"
    })
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn up_deploys_everything_then_is_idempotent_updates_prunes_reports_and_down_removes_it_all() {
    let w = World::new();
    w.provision_infrastructure("staging");
    // Left over from an earlier version: an alarm and a ConfigMap no longer rendered.
    seed_alarm(&w, "rates-staging-old-queue-alarm", "staging");
    // Another environment whose name shares the prefix: never touched.
    seed_alarm(&w, "rates-staging-eu-api-5xx", "staging-eu");
    w.kube.seed("namespaces", json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS, "labels": env_labels() } }));
    w.kube.seed("configmaps", json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "rates-old-config", "namespace": NS, "labels": env_labels() } }));
    w.kube.seed("configmaps", json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "someone-elses", "namespace": NS } }));
    // Labeled with the environment but managed by another tool: not envctl's to prune.
    w.kube.seed(
        "configmaps",
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "helm-managed", "namespace": NS,
            "labels": { "envctl.io/environment": "staging", "app.kubernetes.io/managed-by": "Helm" }
        } }),
    );

    // First up: everything is created.
    let first = up_json(&w, "staging");
    assert_eq!(first["changed"], true);
    assert_eq!(first["applied"], true);
    assert_eq!(first["backend"], "created");
    assert_eq!(first["migration"], "ran");
    assert_eq!(first["dashboard"], "created");
    assert_eq!(
        names(&first["alarms"]["deleted"]),
        ["rates-staging-old-queue-alarm"]
    );
    let created_alarms = names(&first["alarms"]["created"]);
    assert!(created_alarms.len() >= 5, "{created_alarms:?}");
    assert!(
        names(&first["kubernetes"]["pruned"])
            .iter()
            .any(|p| p.contains("rates-old-config")),
        "{first}"
    );
    let calls = w.terraform_calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "apply -input=false -no-color -lock-timeout=5m tfplan"),
        "applied exactly the saved plan: {calls:?}"
    );
    // Real core applied the rendered root under staging's own state key, and the cluster
    // envctl then reached is the one Terraform created in moto.
    let applied = w.state_resources("staging").unwrap_or(0);
    assert!(
        applied > 50,
        "the whole root is in staging's state: {applied}"
    );
    assert!(w.cluster_exists("rates-staging"));

    // AWS side: every rendered alarm, with the topic substituted and the environment's tag.
    let alarms = w.alarms();
    let topic = "arn:aws:sns:eu-west-1:123456789012:rates-staging-alarms";
    for name in &created_alarms {
        let alarm = alarms
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .unwrap();
        assert!(
            alarm.alarm_actions().iter().all(|a| a == topic),
            "{name}: {:?}",
            alarm.alarm_actions()
        );
        assert!(
            !alarm.alarm_actions().is_empty(),
            "{name} notifies the topic"
        );
    }
    assert!(alarms
        .iter()
        .all(|a| a.alarm_name() != Some("rates-staging-old-queue-alarm")));
    assert!(alarms
        .iter()
        .any(|a| a.alarm_name() == Some("rates-staging-eu-api-5xx")));
    let dashboard: Value =
        serde_json::from_str(&w.dashboard("rates-staging").expect("dashboard")).unwrap();
    assert!(dashboard["widgets"]
        .as_array()
        .is_some_and(|w| !w.is_empty()));

    // Kubernetes side: the runtime logs in as rates_app with IAM tokens over verified
    // TLS (no password anywhere); only the migration Job gets the master user.
    let decode = |secret: &Value, key: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(
                    secret["data"][key]
                        .as_str()
                        .unwrap_or_else(|| panic!("{key}")),
                )
                .unwrap(),
        )
        .unwrap()
    };
    let secret = w
        .kube
        .get("secrets", NS, "rates-database")
        .expect("Secret rates-database");
    // The primary's address as Terraform applied it (module.database.aws_db_instance.primary,
    // identifier rates-staging-db), the port from the database_port output.
    let url = decode(&secret, "DATABASE_URL");
    let host = url
        .strip_prefix("postgres://rates_app@")
        .and_then(|rest| rest.strip_suffix(":5432/rates?sslmode=verify-full"))
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        host.starts_with("rates-staging-db.") && host.ends_with(".eu-west-1.rds.amazonaws.com"),
        "{url}"
    );
    assert!(decode(&secret, "DATABASE_READ_URL")
        .starts_with("postgres://rates_app@rates-staging-db-replica-1."));
    assert_eq!(decode(&secret, "RATES_DATABASE_IAM_AUTH"), "true");
    assert_eq!(
        decode(&secret, "RATES_DATABASE_CA_FILE"),
        "/etc/rates/rds-ca.pem"
    );
    let admin = w
        .kube
        .get("secrets", NS, "rates-database-admin")
        .expect("Secret rates-database-admin");
    // The master credentials are what Terraform put in the secret (random_password, through
    // aws_secretsmanager_secret_version), read back from Secrets Manager by envctl.
    let master: Value = {
        let sm = aws_sdk_secretsmanager::Client::new(&w.sdk());
        let out =
            w.rt.block_on(
                sm.get_secret_value()
                    .secret_id("rates-staging/database/master")
                    .send(),
            )
            .expect("the master secret Terraform created in moto");
        serde_json::from_str(out.secret_string().unwrap()).unwrap()
    };
    assert_eq!(master["username"], "rates_admin");
    assert_eq!(
        decode(&admin, "DATABASE_URL"),
        format!(
            "postgres://rates_admin:{}@{host}:5432/rates?sslmode=verify-full",
            master["password"].as_str().unwrap()
        )
    );
    let job_env = w
        .kube
        .keys()
        .into_iter()
        .filter(|(p, _, _)| p == "jobs")
        .map(|(_, ns, name)| w.kube.get("jobs", &ns, &name).unwrap())
        .map(|job| job["spec"]["template"]["spec"]["containers"][0]["envFrom"].to_string())
        .collect::<Vec<_>>();
    assert!(!job_env.is_empty());
    assert!(
        job_env.iter().all(|e| e.contains("rates-database-admin")),
        "{job_env:?}"
    );
    for (_, ns, name) in w
        .kube
        .keys()
        .iter()
        .filter(|(p, ns, _)| p == "deployments" && ns == NS)
    {
        let d = w.kube.get("deployments", ns, name).unwrap();
        let env = d["spec"]["template"]["spec"]["containers"][0]["envFrom"].to_string();
        assert!(
            env.contains("\"rates-database\"") && !env.contains("admin"),
            "{name}: {env}"
        );
    }
    let infra = w
        .kube
        .get("configmaps", NS, "rates-infra")
        .expect("ConfigMap rates-infra");
    // The queue Terraform created in moto, by the URL moto gave it.
    assert_eq!(
        infra["data"]["RATES_SQS_QUEUE_URL"],
        format!(
            "{}/123456789012/rates-staging-batches",
            w.moto.endpoint_url()
        )
    );
    assert_eq!(
        infra["data"]["RATES_EVENTS_TOPIC_ARN"],
        "arn:aws:sns:eu-west-1:123456789012:rates-staging-batches-events"
    );
    assert_eq!(
        infra["metadata"]["labels"]["envctl.io/environment"],
        "staging"
    );
    assert!(
        w.kube.get("configmaps", NS, "rates-old-config").is_none(),
        "pruned"
    );
    assert!(
        w.kube.get("configmaps", NS, "someone-elses").is_some(),
        "unlabeled objects are never pruned"
    );
    assert!(
        w.kube.get("configmaps", NS, "helm-managed").is_some(),
        "objects managed by other tools are never pruned"
    );
    let keys = w.kube.keys();
    let deployments: Vec<_> = keys
        .iter()
        .filter(|(p, ns, _)| p == "deployments" && ns == NS)
        .collect();
    assert!(!deployments.is_empty(), "{keys:?}");
    for (_, _, name) in &deployments {
        let d = w.kube.get("deployments", NS, name).unwrap();
        assert_eq!(
            d["metadata"]["labels"]["envctl.io/environment"], "staging",
            "{name}"
        );
    }
    for (_, ns, name) in keys.iter().filter(|(p, _, _)| p == "serviceaccounts") {
        let sa = w.kube.get("serviceaccounts", ns, name).unwrap();
        assert_eq!(
            sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::123456789012:role/rates-staging-runtime"
        );
    }
    let requests = w.kube.requests();
    let patches: Vec<&String> = requests.iter().filter(|r| r.starts_with("PATCH")).collect();
    assert!(
        patches
            .iter()
            .all(|r| r.contains("fieldManager=envctl") && r.contains("force=true")),
        "{patches:?}"
    );
    let job_patch = patches
        .iter()
        .position(|r| r.contains("/jobs/"))
        .expect("the migration Job was applied");
    let first_deployment_patch = patches
        .iter()
        .position(|r| r.contains("/deployments/"))
        .unwrap();
    assert!(
        job_patch < first_deployment_patch,
        "the migration Job runs before the Deployments roll out"
    );
    assert_eq!(
        w.kube.store.lock().unwrap().rejected_tokens,
        0,
        "every call carried an EKS token"
    );

    // Second up: nothing changes, and it says so.
    let patches_before = w
        .kube
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .assert()
        .success()
        .stdout(contains("staging was already up to date: nothing changed."));
    let second = up_json(&w, "staging");
    assert_eq!(second["changed"], false, "{second}");
    assert_eq!(second["migration"], "up to date");
    assert_eq!(second["kubernetes"]["created"].as_array().unwrap().len(), 0);
    assert_eq!(
        second["kubernetes"]["configured"].as_array().unwrap().len(),
        0
    );
    assert!(
        names(&second["alarms"]["updated"]).is_empty()
            && names(&second["alarms"]["created"]).is_empty()
    );
    assert_eq!(
        w.terraform_calls()
            .iter()
            .filter(|c| c.starts_with("apply"))
            .count(),
        1,
        "no second apply"
    );
    let job_patches = w
        .kube
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH") && r.contains("/jobs/"))
        .count();
    assert_eq!(
        job_patches, 1,
        "the migration Job is not re-run for the same version"
    );
    assert!(
        w.kube
            .requests()
            .iter()
            .filter(|r| r.starts_with("PATCH"))
            .count()
            > patches_before,
        "apply still ran (as no-ops)"
    );

    // A threshold change in the profile updates exactly the alarms it feeds.
    let threshold_of = |w: &World, pattern: &str| {
        w.alarms()
            .iter()
            .filter(|a| {
                a.alarm_name()
                    .is_some_and(|n| n.starts_with("rates-staging-") && n.contains(pattern))
            })
            .map(|a| (a.alarm_name().unwrap().to_string(), a.threshold()))
            .collect::<Vec<_>>()
    };
    let before = threshold_of(&w, "api-5xx-rate");
    assert_eq!(before.len(), 1, "one 5xx alarm: {before:?}");
    w.edit_profile("staging", |doc| {
        doc["alarms"]["api_5xx_percent"] = serde_yaml::Value::from(7)
    });
    let third = up_json(&w, "staging");
    assert_eq!(
        names(&third["alarms"]["updated"]),
        [before[0].0.clone()],
        "{third}"
    );
    assert!(names(&third["alarms"]["created"]).is_empty());
    assert_eq!(third["changed"], true);
    let after = threshold_of(&w, "api-5xx-rate");
    assert_eq!(
        (before[0].1, after[0].1),
        (Some(2.0), Some(7.0)),
        "threshold changed"
    );

    // status: alarms with ALARM first, rollouts, endpoints.
    let cw = aws_sdk_cloudwatch::Client::new(&w.sdk());
    let firing = created_alarms.iter().max().unwrap().clone();
    w.rt.block_on(
        cw.set_alarm_state()
            .alarm_name(&firing)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("Threshold Crossed: 3 datapoints were greater than the threshold")
            .send(),
    )
    .unwrap();
    for (_, ns, name) in w.kube.keys().iter().filter(|(p, _, _)| p == "ingresses") {
        w.kube.set_status("ingresses", ns, name, json!({ "loadBalancer": { "ingress": [{ "hostname": "k8s-rates-0123456789.eu-west-1.elb.amazonaws.com" }] } }));
    }
    let out = w.envctl().args(["status", "staging"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let alarm_lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("ALARM")
                || l.trim_start().starts_with("OK")
                || l.trim_start().starts_with("INSUFFICIENT_DATA")
        })
        .collect();
    assert!(
        alarm_lines[0].contains("ALARM") && alarm_lines[0].contains(&firing),
        "ALARM first:\n{text}"
    );
    assert!(text.contains("1 in ALARM"), "{text}");
    assert!(
        text.contains("cluster:       rates-staging ACTIVE"),
        "{text}"
    );
    assert!(text.contains("rollout:       ✓"), "{text}");
    assert!(text.contains("dashboards:name=rates-staging"), "{text}");
    let out = w
        .envctl()
        .args(["status", "staging", "--output", "json"])
        .succeeds();
    let status = out.result()["status"].clone();
    assert_eq!(status["alarms"][0]["state"], "ALARM");
    assert_eq!(status["alarms"][0]["name"], firing.as_str());
    assert!(status["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["complete"] == true));
    if w.kube.keys().iter().any(|(p, _, _)| p == "ingresses") {
        assert!(
            status["endpoints"][0].as_str().unwrap().contains("://"),
            "{status}"
        );
    }

    // down: nothing of the environment is left.
    w.envctl()
        .args(["down", "staging", "--yes"])
        .assert()
        .success()
        .stdout(contains("staging is down."));
    let left: Vec<String> = w
        .alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .filter(|n| n.starts_with("rates-staging-"))
        .collect();
    assert_eq!(
        left,
        ["rates-staging-eu-api-5xx"],
        "only the other environment's alarm is left"
    );
    assert!(w.dashboard("rates-staging").is_none());
    let objects: Vec<_> = w
        .kube
        .keys()
        .into_iter()
        .filter(|(p, ns, name)| ns == NS || (p == "namespaces" && name == NS))
        .collect();
    assert!(objects.is_empty(), "left in the cluster: {objects:?}");
    let calls = w.terraform_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("plan") && c.contains("-destroy")),
        "{calls:?}"
    );
    assert_eq!(
        w.state_resources("staging"),
        Some(0),
        "terraform destroyed everything"
    );
    assert!(
        !w.cluster_exists("rates-staging"),
        "the cluster is gone from moto"
    );

    // down again: everything is already gone, and that is fine.
    let out = w
        .envctl()
        .args(["down", "staging", "--yes"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("0 deleted; dashboard already gone"), "{text}");
    assert!(text.contains("already destroyed"), "{text}");
}

#[test]
fn a_stuck_rollout_says_why_before_the_timeout() {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.kube
        .store
        .lock()
        .unwrap()
        .stuck_deployments
        .insert("*".into());
    let started = std::time::Instant::now();
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "4s"])
        .assert()
        .code(1)
        .stderr(says("rollout of deployment"))
        .stderr(says("not complete after 4s"))
        .stderr(says(
            "Readiness probe failed: HTTP probe failed with statuscode: 503 (x9)",
        ))
        .stderr(says("0/"));
    assert!(started.elapsed() < std::time::Duration::from_secs(90));
    // Nothing was pruned and no alarms were put while the rollout was stuck.
    assert!(w.alarms().iter().all(|a| !a
        .alarm_name()
        .unwrap_or_default()
        .starts_with("rates-staging-")));
}

#[test]
fn a_failed_migration_stops_before_the_deployments_with_its_log() {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.kube.store.lock().unwrap().failing_jobs.insert("*".into());
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .assert()
        .code(1)
        .stderr(says("migration job"))
        .stderr(says("Job has reached the specified backoff limit"))
        .stderr(says("relation \"rates_daily\" already exists"));
    assert!(
        !w.kube
            .requests()
            .iter()
            .any(|r| r.starts_with("PATCH") && r.contains("/deployments/")),
        "no Deployment was touched"
    );
}

#[test]
fn status_of_an_environment_that_was_never_deployed() {
    let w = World::new();
    w.envctl()
        .args(["status", "staging"])
        .assert()
        .success()
        .stdout(contains("state backend: not bootstrapped"))
        .stdout(contains("cluster:       not found"))
        .stdout(contains("alarms:        none"));
}

#[test]
fn down_resumes_when_part_of_the_environment_is_already_gone() {
    let w = World::new();
    w.provision_infrastructure("staging");
    up_json(&w, "staging");
    // An earlier `down` got as far as deleting the alarms and the cluster.
    let cw = aws_sdk_cloudwatch::Client::new(&w.sdk());
    let eks = aws_sdk_eks::Client::new(&w.sdk());
    let names: Vec<String> = w
        .alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect();
    w.rt.block_on(async {
        cw.delete_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .unwrap();
        eks.delete_cluster()
            .name("rates-staging")
            .send()
            .await
            .unwrap();
    });
    w.envctl()
        .args(["down", "staging", "--yes"])
        .assert()
        .success()
        .stdout(contains("alarms:     0 deleted; dashboard deleted"))
        .stdout(contains(
            "kubernetes: skipped (cluster rates-staging not found: already gone)",
        ))
        .stdout(contains("resource(s) destroyed"));
    // Refresh found the cluster gone (dropped from state, as the AWS provider does) and
    // the destroy took the rest.
    assert_eq!(
        w.state_resources("staging"),
        Some(0),
        "terraform destroyed the rest"
    );
    assert!(w.dashboard("rates-staging").is_none());
}

/// Staging provisioned, with a migration Job that runs longer than the API server
/// accepts a token.
fn migration_outliving_a_token() -> World {
    let w = World::new();
    w.provision_infrastructure("staging");
    {
        let mut store = w.kube.store.lock().unwrap();
        store.job_duration = std::time::Duration::from_secs(4);
        store.max_token_age = Some(std::time::Duration::from_secs(2));
    }
    w
}

#[test]
fn a_long_migration_outlives_a_token_and_the_deploy_still_succeeds() {
    let w = migration_outliving_a_token();
    w.envctl()
        .env("ENVCTL_EKS_TOKEN_REFRESH_MS", "500")
        .args(["up", "staging", "--yes", "--timeout", "30s"])
        .assert()
        .success();
    let store = w.kube.store.lock().unwrap();
    assert_eq!(store.rejected_tokens, 0, "{:?}", store.last_token_error);
    assert!(
        store.tokens_seen.len() >= 3,
        "tokens were re-minted during the run: {}",
        store.tokens_seen.len()
    );
}

#[test]
fn a_token_that_is_not_renewed_expires_during_a_long_migration() {
    // The same run with envctl's real refresh interval (5 minutes): the check above can fail.
    let w = migration_outliving_a_token();
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "30s"])
        .assert()
        .code(1)
        .stderr(says("Unauthorized"));
    let store = w.kube.store.lock().unwrap();
    assert!(store.rejected_tokens > 0);
    assert!(
        store
            .last_token_error
            .as_deref()
            .is_some_and(|e| e.contains("token expired")),
        "{:?}",
        store.last_token_error
    );
}

#[test]
fn a_token_signed_with_other_credentials_is_refused() {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.envctl()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-test-secret")
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .assert()
        .code(1)
        .stderr(says("Unauthorized"));
    let store = w.kube.store.lock().unwrap();
    assert!(store.rejected_tokens > 0);
    assert!(
        store
            .last_token_error
            .as_deref()
            .is_some_and(|e| e.contains("signature does not match")),
        "{:?}",
        store.last_token_error
    );
}

/// A load balancer address that answers GET /readyz with `status` (a one-request-at-a-time
/// HTTP server on 127.0.0.1).
fn readyz_server(status: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    addr
}

#[test]
fn a_failing_smoke_test_fails_up_and_says_how_to_go_back() {
    // dev: an internal load balancer, which answers only inside the VPC (its name does
    // not even resolve here): the smoke test goes through the API server's proxy to the
    // Ingress's backend Service, which reaches the same pods.
    let w = World::new();
    w.provision_infrastructure("dev");
    let ns = "rates-dev";
    w.kube
        .set_service_endpoints(ns, "rates-api", &readyz_server("200 OK"));
    up_json(&w, "dev");
    let lb = "internal-k8s-ratesdev-0123456789.eu-west-1.elb.amazonaws.com";
    for (_, ns, name) in w.kube.keys().iter().filter(|(p, _, _)| p == "ingresses") {
        w.kube.set_status(
            "ingresses",
            ns,
            name,
            json!({ "loadBalancer": { "ingress": [{ "hostname": lb }] } }),
        );
    }
    w.kube
        .set_service_endpoints(ns, "rates-api", &readyz_server("503 Service Unavailable"));
    w.envctl()
        .args(["up", "dev", "--yes", "--timeout", "2s"])
        .assert()
        .code(1)
        .stderr(says(&format!("smoke test of http://{lb}/readyz")))
        .stderr(says("no ready answer within 2s (last: 503"))
        .stderr(says("rollout undo"));
    assert!(
        w.kube
            .requests()
            .iter()
            .any(|r| r == "GET /api/v1/namespaces/rates-dev/services/rates-api:http/proxy/readyz"),
        "through the service proxy"
    );
    // The same release answering ready: up succeeds.
    w.kube
        .set_service_endpoints(ns, "rates-api", &readyz_server("200 OK"));
    w.envctl()
        .args(["up", "dev", "--yes", "--timeout", "2s"])
        .assert()
        .success();
}

#[test]
fn preflight_stops_before_applying_while_an_add_on_is_missing() {
    // Stand-in: an add-on must stay missing after the apply, while with real Terraform
    // the in-test API server installs whatever the applied state's cluster_controllers
    // names (support/mod.rs).
    let w = World::with_standin();
    w.provision_infrastructure("staging");
    let controllers = crate::support::cluster_controllers();
    for (name, controller) in controllers.as_object().unwrap() {
        w.kube.uninstall_controller(controller);
        let before = w.kube.requests().len();
        w.envctl()
            .args(["up", "staging", "--yes", "--timeout", "20s"])
            .assert()
            .code(1)
            .stderr(says("preflight"))
            .stderr(says(&format!("the {name} add-on")))
            .stderr(says(controller["installed_by"].as_str().unwrap()));
        assert!(
            !w.kube.requests()[before..]
                .iter()
                .any(|r| r.starts_with("PATCH")),
            "{name} missing: nothing was applied"
        );
        w.kube
            .install_controllers(&json!({ name.clone(): controller.clone() }));
    }
    // Every add-on back: the same up passes the preflight and deploys.
    let report = up_json(&w, "staging");
    assert!(!report["kubernetes"]["created"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn the_controllers_fixture_matches_the_addons_module() {
    let module = crate::support::repo_root().join("terraform/modules/addons");
    let text = std::fs::read_to_string(module.join("outputs.tf")).unwrap()
        + &std::fs::read_to_string(module.join("main.tf")).unwrap();
    for (name, c) in crate::support::cluster_controllers().as_object().unwrap() {
        assert!(text.contains(&format!("{name} = {{")), "output key {name}");
        let installed_by = c["installed_by"].as_str().unwrap();
        let (kind, resource) = installed_by.split_once('.').unwrap();
        assert!(
            text.contains(&format!("resource \"{kind}\" \"{resource}\"")),
            "{installed_by}"
        );
        for list in ["api_groups", "api_services", "ingress_classes"] {
            for item in c[list].as_array().unwrap() {
                assert!(
                    text.contains(&format!("\"{}\"", item.as_str().unwrap())),
                    "{name}.{list}: {item}"
                );
            }
        }
        for d in c["deployments"].as_array().unwrap() {
            let (_, deployment) = d.as_str().unwrap().split_once('/').unwrap();
            assert!(text.contains(deployment), "{name}: deployment {deployment}");
        }
    }
}

#[test]
fn image_tag_deploys_the_commit_ci_built() {
    let w = World::new();
    w.provision_infrastructure("staging");
    let sha = "3f70cd8a9d1e4b5c6f7a8b9c0d1e2f3a4b5c6d7e";
    // CI pushed it, stamped with this contract version.
    w.push_image("staging", sha, Some(&CONTRACT_VERSION.to_string()));
    w.envctl()
        .args([
            "up",
            "staging",
            "--yes",
            "--timeout",
            "20s",
            "--image-tag",
            sha,
        ])
        .assert()
        .success();
    let mut images = Vec::new();
    for (_, ns, name) in w
        .kube
        .keys()
        .iter()
        .filter(|(p, ns, _)| (p == "deployments" || p == "jobs") && ns == NS)
    {
        let plural = if w.kube.get("deployments", ns, name).is_some() {
            "deployments"
        } else {
            "jobs"
        };
        let object = w.kube.get(plural, ns, name).unwrap();
        images.push(
            object["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(images.len() >= 3, "{images:?}");
    assert!(
        images
            .iter()
            .all(|i| i
                == &format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/rates-staging:{sha}")),
        "{images:?}"
    );
    // A tag the profile would refuse is refused on the command line, before any call.
    w.envctl()
        .args(["up", "staging", "--yes", "--image-tag", "latest"])
        .assert()
        .code(2)
        .stderr(says("`latest` is not a pinned image tag"));
}

/// A server-side apply by the test itself (`manager`, forced or not) through the API server.
fn apply_as(w: &World, path: &str, manager: &str, force: bool, body: Value) -> (u16, Value) {
    w.kube.request(
        "PATCH",
        &format!("{path}?fieldManager={manager}&force={force}"),
        Some(&body),
    )
}

/// The field set a manager owns in a live object's `metadata.managedFields` (FieldsV1).
fn owned_by(object: &Value, manager: &str) -> Option<Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|m| m["manager"] == manager)
        .map(|m| m["fieldsV1"].clone())
}

#[test]
fn the_api_server_refuses_fields_and_types_its_schema_does_not_declare() {
    let w = World::new();
    w.provision_infrastructure("staging");
    // A misspelled field in the api's container: the 1.32 schema has no `imagePulPolicy`.
    let template = w.root().join("templates/k8s/40-api.yaml.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    let typo = text.replacen(
        "        - name: api\n",
        "        - name: api\n          imagePulPolicy: Always\n",
        1,
    );
    assert_ne!(text, typo, "the api container is where the test expects it");
    std::fs::write(&template, typo).unwrap();
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .assert()
        .code(1)
        .stderr(says(
            "failed to create typed patch object (rates-staging/rates-api; apps/v1, Kind=Deployment): \
             .spec.template.spec.containers[name=\"api\"].imagePulPolicy: field not declared in schema",
        ));
    assert!(w.kube.get("deployments", NS, "rates-api").is_none());

    // Wrong types, as the typed conversion words them.
    let (code, answer) = apply_as(
        &w,
        &format!("/api/v1/namespaces/{NS}/configmaps/typed"),
        "kubectl",
        false,
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "typed" }, "data": { "RETRIES": 3 } }),
    );
    assert_eq!(code, 500, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with(".data.RETRIES: expected string, got &value.valueUnstructured{Value:3}"),
        "{answer}"
    );
    let (code, answer) = apply_as(
        &w,
        &format!("/apis/apps/v1/namespaces/{NS}/deployments/typed"),
        "kubectl",
        false,
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "typed" },
                "spec": { "replicas": "three" } }),
    );
    assert_eq!(code, 500, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with(".spec.replicas: expected numeric (int or float), got string"),
        "{answer}"
    );
    // Well typed but incomplete: the kind's validation names what is required.
    let (code, answer) = apply_as(
        &w,
        &format!("/apis/apps/v1/namespaces/{NS}/deployments/typed"),
        "kubectl",
        false,
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "typed" },
                "spec": { "replicas": 1 } }),
    );
    assert_eq!(
        (code, answer["reason"].as_str()),
        (422, Some("Invalid")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment.apps \"typed\" is invalid: [spec.selector: Required value, spec.template: Required value]"),
        "{answer}"
    );
}

#[test]
fn server_side_apply_keeps_other_managers_fields_and_refuses_immutable_changes() {
    let w = World::new();
    w.provision_infrastructure("staging");
    up_json(&w, "staging");
    let api = w.kube.get("deployments", NS, "rates-api").unwrap();
    let envctl_fields = owned_by(&api, "envctl").expect("envctl's field set");
    assert!(
        envctl_fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get("k:{\"name\":\"api\"}")
            .is_some(),
        "{envctl_fields}"
    );
    assert!(
        envctl_fields["f:spec"].get("f:replicas").is_none(),
        "the autoscaler owns replicas, not envctl: {envctl_fields}"
    );

    // The HorizontalPodAutoscaler scales the api (an update of the scale subresource).
    w.kube.update_as(
        "deployments",
        NS,
        "rates-api",
        "kube-controller-manager",
        Some("scale"),
        |d| d["spec"]["replicas"] = json!(3),
    );
    // A new image rolls out; the autoscaler's replica count stays.
    let sha = "9e107d9d372bb6826bd81d3542a419d6e0e5f3a1";
    w.push_image("staging", sha, Some(&CONTRACT_VERSION.to_string()));
    w.envctl()
        .args([
            "up",
            "staging",
            "--yes",
            "--timeout",
            "20s",
            "--image-tag",
            sha,
        ])
        .assert()
        .success();
    let api = w.kube.get("deployments", NS, "rates-api").unwrap();
    assert!(
        api["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(sha),
        "{api}"
    );
    assert_eq!(
        api["spec"]["replicas"], 3,
        "envctl's apply kept the autoscaler's replicas"
    );
    assert_eq!(
        owned_by(&api, "kube-controller-manager"),
        Some(json!({ "f:spec": { "f:replicas": {} } }))
    );

    // Another manager applying replicas conflicts with the autoscaler unless it forces.
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/rates-api");
    let scale = json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": { "name": "rates-api", "namespace": NS }, "spec": { "replicas": 5 } });
    let (code, answer) = apply_as(&w, &path, "kubectl", false, scale.clone());
    assert_eq!(
        (code, answer["reason"].as_str()),
        (409, Some("Conflict")),
        "{answer}"
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with("Apply failed with 1 conflict: conflict with \"kube-controller-manager\" with subresource \"scale\" using apps/v1 at ")
            && message.ends_with(": .spec.replicas"),
        "{message}"
    );
    let (code, answer) = apply_as(&w, &path, "kubectl", true, scale);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["spec"]["replicas"], 5);
    assert_eq!(
        owned_by(&answer, "kube-controller-manager"),
        None,
        "forced: ownership moved"
    );

    // A Deployment's selector cannot change.
    let (code, answer) = apply_as(
        &w,
        &path,
        "kubectl",
        true,
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "rates-api", "namespace": NS },
                "spec": { "selector": { "matchLabels": { "app.kubernetes.io/component": "other" } } } }),
    );
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["message"],
        "Deployment.apps \"rates-api\" is invalid: spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable"
    );
    // Nor a Service's cluster IP.
    let (code, answer) = apply_as(
        &w,
        &format!("/api/v1/namespaces/{NS}/services/rates-api"),
        "kubectl",
        true,
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "rates-api", "namespace": NS },
                "spec": { "clusterIP": "10.0.0.10" } }),
    );
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["message"],
        "Service \"rates-api\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.10\"}: may not change once set"
    );

    // A Job's pod template cannot change (the Job of this image: the earlier one was pruned)...
    let job_name = w
        .kube
        .keys()
        .into_iter()
        .find(|(p, ns, _)| p == "jobs" && ns == NS)
        .unwrap()
        .2;
    let job_path = format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}");
    let (code, answer) = apply_as(
        &w,
        &job_path,
        "kubectl",
        true,
        json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": job_name, "namespace": NS },
                "spec": { "template": { "spec": { "containers": [{ "name": "migrate", "args": ["migrate", "--dry-run"] }] } } } }),
    );
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["message"],
        format!("Job.batch \"{job_name}\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{{...}}: field is immutable")
    );
    // ...so when the profile changes the migration Job but not its image (same name),
    // envctl deletes the old Job and creates the new one.
    w.edit_profile("staging", |doc| {
        doc["runtime"]["worker"]["resources"] =
            serde_yaml::from_str("{ cpu_request: 750m }").unwrap()
    });
    let requests_before = w.kube.requests().len();
    let out = w
        .envctl()
        .args([
            "up",
            "staging",
            "--yes",
            "--output",
            "json",
            "--timeout",
            "20s",
            "--image-tag",
            sha,
        ])
        .succeeds();
    let report = out.result()["up"].clone();
    assert_eq!(report["migration"], "ran", "{report}");
    let job = w
        .kube
        .get("jobs", NS, &job_name)
        .expect("the same Job name");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "750m"
    );
    let job_requests: Vec<String> = w.kube.requests()[requests_before..]
        .iter()
        .filter(|r| r.contains(&format!("/jobs/{job_name}")) && !r.starts_with("GET"))
        .map(|r| r.split('?').next().unwrap().to_string())
        .collect();
    assert_eq!(
        job_requests,
        [format!("DELETE {job_path}"), format!("PATCH {job_path}")]
    );
}

#[test]
fn server_side_apply_removes_what_a_manager_stops_applying_and_honours_immutable() {
    let w = World::new();
    w.kube.seed(
        "namespaces",
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "ssa" } }),
    );
    let cm = |name: &str, extra: Value| {
        let mut body = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name, "namespace": "ssa" } });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let path = "/api/v1/namespaces/ssa/configmaps/shared";
    let (code, _) = apply_as(
        &w,
        path,
        "first",
        false,
        cm("shared", json!({ "data": { "a": "1", "b": "2" } })),
    );
    assert_eq!(code, 201);
    let (code, _) = apply_as(
        &w,
        path,
        "second",
        false,
        cm("shared", json!({ "data": { "c": "3" } })),
    );
    assert_eq!(code, 200);
    // `first` no longer applies `b`: it goes; `second`'s `c` stays.
    let (code, live) = apply_as(
        &w,
        path,
        "first",
        false,
        cm("shared", json!({ "data": { "a": "1" } })),
    );
    assert_eq!(code, 200, "{live}");
    assert_eq!(live["data"], json!({ "a": "1", "c": "3" }));
    assert_eq!(
        owned_by(&live, "first"),
        Some(json!({ "f:data": { "f:a": {} } }))
    );
    assert_eq!(
        owned_by(&live, "second"),
        Some(json!({ "f:data": { "f:c": {} } }))
    );
    // The same apply again writes nothing.
    let rv = live["metadata"]["resourceVersion"].clone();
    let (_, again) = apply_as(
        &w,
        path,
        "first",
        false,
        cm("shared", json!({ "data": { "a": "1" } })),
    );
    assert_eq!(again["metadata"]["resourceVersion"], rv);

    // An immutable ConfigMap keeps its data.
    let path = "/api/v1/namespaces/ssa/configmaps/frozen";
    let (code, _) = apply_as(
        &w,
        path,
        "first",
        false,
        cm("frozen", json!({ "immutable": true, "data": { "a": "1" } })),
    );
    assert_eq!(code, 201);
    let (code, answer) = apply_as(
        &w,
        path,
        "first",
        false,
        cm("frozen", json!({ "immutable": true, "data": { "a": "2" } })),
    );
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["message"],
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    // Nothing is created in a namespace that does not exist.
    let (code, answer) = apply_as(
        &w,
        "/api/v1/namespaces/nowhere/configmaps/x",
        "first",
        false,
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "x" } }),
    );
    assert_eq!(
        (code, answer["message"].as_str()),
        (404, Some("namespaces \"nowhere\" not found"))
    );
}

#[test]
fn label_selectors_select_like_the_api_server() {
    let w = World::new();
    let pod = |name: &str, labels: Value| {
        w.kube.seed(
            "pods",
            json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name, "namespace": "sel", "labels": labels } }),
        );
    };
    pod("api-web", json!({ "app": "api", "tier": "web" }));
    pod("worker-batch", json!({ "app": "worker", "tier": "batch" }));
    pod("api-only", json!({ "app": "api" }));
    pod("bare", json!({}));
    let select = |selector: &str| -> (u16, Value) {
        let encoded: String = selector
            .chars()
            .map(|c| match c {
                ' ' => "%20".to_string(),
                '=' => "%3D".to_string(),
                '!' => "%21".to_string(),
                ',' => "%2C".to_string(),
                '(' => "%28".to_string(),
                ')' => "%29".to_string(),
                c => c.to_string(),
            })
            .collect();
        w.kube.request(
            "GET",
            &format!("/api/v1/namespaces/sel/pods?labelSelector={encoded}"),
            None,
        )
    };
    for (selector, expected) in [
        ("", vec!["api-only", "api-web", "bare", "worker-batch"]),
        (
            "app in (api,worker)",
            vec!["api-only", "api-web", "worker-batch"],
        ),
        ("app notin (api)", vec!["bare", "worker-batch"]),
        ("tier", vec!["api-web", "worker-batch"]),
        ("!tier", vec!["api-only", "bare"]),
        ("app!=api", vec!["bare", "worker-batch"]),
        ("app==api,tier=web", vec!["api-web"]),
        ("app in (api), !tier", vec!["api-only"]),
        ("tier in (web, batch),app notin (worker)", vec!["api-web"]),
    ] {
        let (code, list) = select(selector);
        assert_eq!(code, 200, "{selector}: {list}");
        let mut names: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, expected, "{selector}");
    }
    for (selector, message) in [
        (
            "app in api",
            "unable to parse requirement: found 'api' expected: '('",
        ),
        (
            "app api",
            "unable to parse requirement: found 'api', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "app in (api",
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        ("app=a,", "found '', expected: identifier after ','"),
        (
            "-app=a",
            "unable to parse requirement: key: Invalid value: \"-app\"",
        ),
    ] {
        let (code, answer) = select(selector);
        assert_eq!(
            (code, answer["reason"].as_str()),
            (400, Some("BadRequest")),
            "{selector}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().starts_with(message),
            "{selector}: {answer}"
        );
    }
    let (code, answer) = w.kube.request(
        "GET",
        "/api/v1/namespaces/sel/events?fieldSelector=involvedObject.color%3Dred",
        None,
    );
    assert_eq!(
        (code, answer["message"].as_str()),
        (400, Some("field label not supported: involvedObject.color"))
    );
}
