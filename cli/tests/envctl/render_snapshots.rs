//! Every environment's rendered tree as insta snapshots, and the properties rendering
//! promises: determinism, HA production, scaled-down copies, stale-file removal.

use std::path::Path;

use envctl::profile::{Capacity, EnvironmentName, Profile};
use envctl::render::{self, Rendered};

use crate::support::{copy_dir, repo_root as root};

fn rendered(env: &str) -> Rendered {
    let profile = Profile::load(&root(), env).unwrap_or_else(|e| panic!("{env}: {e}"));
    render::render(&root(), &profile).unwrap_or_else(|e| panic!("{env}: {e}"))
}

/// The tree as one text: each file with its path; module copies are checked against the
/// repository and shown by path only (they are the same for every environment).
fn tree_text(r: &Rendered) -> String {
    let mut out = String::new();
    for (path, content) in &r.files {
        let name = render::slash_path(path);
        if let Some(module) = name.strip_prefix("terraform/") {
            if module.starts_with("modules/") {
                let original =
                    std::fs::read_to_string(root().join("terraform").join(module)).unwrap();
                assert_eq!(&original, content, "{name} must be a verbatim copy");
                out.push_str(&format!("=== {name} (copy of terraform/{module})\n"));
                continue;
            }
        }
        out.push_str(&format!("=== {name}\n{content}"));
    }
    out
}

#[test]
fn every_environment_renders_as_snapshotted() {
    let names = Profile::names(&root()).unwrap();
    assert_eq!(names, ["dev", "local", "production", "review", "staging"]);
    for env in names {
        let tree = tree_text(&rendered(&env));
        insta::assert_snapshot!(format!("tree_{env}"), tree);
    }
}

#[test]
fn rendering_is_byte_for_byte_deterministic() {
    for env in Profile::names(&root()).unwrap() {
        assert_eq!(
            rendered(&env),
            rendered(&env),
            "{env} rendered differently twice"
        );
    }
}

#[test]
fn manifest_lists_every_file_with_its_hash_and_the_kubernetes_plan() {
    let r = rendered("staging");
    let manifest = r.manifest().unwrap();
    assert_eq!(manifest["environment"], "staging");
    assert_eq!(manifest["state_key"], "envs/staging/terraform.tfstate");
    assert_eq!(manifest["alarm_prefix"], "rates-staging-");
    assert_eq!(
        manifest["kubernetes"]["prune_selector"],
        "envctl.io/environment=staging"
    );
    assert_eq!(
        manifest["kubernetes"]["deployments"],
        serde_json::json!(["rates-api", "rates-worker"])
    );
    let job_file = manifest["kubernetes"]["migration_job"]["file"]
        .as_str()
        .unwrap();
    let order: Vec<&str> = manifest["kubernetes"]["apply_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!order.contains(&job_file) && order.len() == 5, "{order:?}");
    let files = manifest["files"].as_object().unwrap();
    assert_eq!(
        files.len(),
        r.files.len() - 1,
        "every file but manifest.json is listed"
    );
    for (path, content) in &r.files {
        let name = render::slash_path(path);
        if name != "manifest.json" {
            use sha2::Digest;
            assert_eq!(
                files[&name],
                hex::encode(sha2::Sha256::digest(content.as_bytes())),
                "{name}"
            );
        }
    }
}

#[test]
fn production_is_highly_available() {
    let p = Profile::load(&root(), "production").unwrap();
    assert!(p.protected);
    assert_eq!(p.network.az_count, 3);
    assert_eq!(p.network.nat.as_str(), "per_az");
    assert!(p.database.multi_az && p.database.read_replicas >= 1 && p.database.deletion_protection);
    assert!(
        p.runtime.api.replicas.min >= 3
            && p.runtime.api.spread_across_zones
            && p.runtime.api.pdb.enabled
    );
    assert!(p
        .eks
        .node_groups
        .iter()
        .any(|g| g.capacity == Capacity::OnDemand));
    assert!(p
        .eks
        .node_groups
        .iter()
        .any(|g| g.capacity == Capacity::Spot));
    let r = rendered("production");
    let api = &r.files[Path::new("k8s/40-api.yaml")];
    assert!(
        api.contains("kind: PodDisruptionBudget") && api.contains("topology.kubernetes.io/zone")
    );
    // Only workers tolerate the spot taint.
    assert!(!api.contains("tolerations"));
    assert!(r.files[Path::new("k8s/50-worker.yaml")].contains("value: spot"));
    let alarms = &r.files[Path::new("cloudwatch/alarms.json")];
    assert!(alarms.contains("rates-production-replica-lag-2"));
}

#[test]
fn dev_and_review_are_scaled_down_by_their_profiles() {
    for env in ["dev", "review"] {
        let p = Profile::load(&root(), env).unwrap();
        assert!(
            !p.protected && !p.database.multi_az && p.database.read_replicas == 0,
            "{env}"
        );
        assert_eq!(p.network.nat.as_str(), "single");
        let r = rendered(env);
        assert!(
            !r.files[Path::new("k8s/40-api.yaml")].contains("PodDisruptionBudget"),
            "{env}"
        );
        assert!(
            r.files[Path::new("terraform/main.tf")].contains("multi_az                    = false"),
            "{env}"
        );
    }
}

#[test]
fn review_instances_render_under_their_own_names() {
    let name = EnvironmentName::parse("review-pr42-feature-x").unwrap();
    let extra = [("ReviewPr".to_string(), "42".to_string())]
        .into_iter()
        .collect();
    let p = Profile::load(&root(), "review")
        .unwrap()
        .instance(name, extra);
    let r = render::render(&root(), &p).unwrap();
    let manifest = r.manifest().unwrap();
    assert_eq!(manifest["cluster_name"], "rates-review-pr42-feature-x");
    assert_eq!(manifest["tags"]["ReviewPr"], "42");
    assert!(r.files[Path::new("k8s/10-config.yaml")]
        .contains("envctl.io/environment: \"review-pr42-feature-x\""));
}

#[test]
fn writing_replaces_stale_files_from_the_previous_render_only() {
    let dir = tempfile::tempdir().unwrap();
    let aws = rendered("staging");
    aws.write(dir.path()).unwrap();
    let mine = dir.path().join("notes.txt");
    std::fs::write(&mine, "kept").unwrap();
    assert!(dir.path().join("k8s/40-api.yaml").is_file());
    // The local target renders different files: the AWS ones must go, the user's stay.
    let local = rendered("local");
    local.write(dir.path()).unwrap();
    assert!(!dir.path().join("k8s").exists() && !dir.path().join("terraform").exists());
    assert!(dir.path().join("manifest.json").is_file());
    assert_eq!(std::fs::read_to_string(mine).unwrap(), "kept");
}

/// Copies what rendering reads (profiles, templates, modules) into a temp project root.
fn project_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["environments", "templates", "terraform"] {
        copy_dir(&root().join(sub), &dir.path().join(sub));
    }
    dir
}

/// Every environment's alarms and dashboard read only metrics the runtime emits, with the
/// dimensions it emits them with (rendering checks it against rates-contract); and the
/// check is not vacuous: the alarms that page someone are among what it checked.
#[test]
fn alarms_and_widgets_read_only_metrics_the_runtime_emits() {
    for env in Profile::names(&root()).unwrap() {
        let profile = Profile::load(&root(), &env).unwrap();
        let r = render::render(&root(), &profile).unwrap_or_else(|e| panic!("{env}: {e}"));
        if profile.target != envctl::profile::Target::Aws {
            continue;
        }
        let file = |name: &str| r.files[Path::new(name)].as_str();
        let uses = render::check_runtime_metrics(
            file("cloudwatch/alarms.json"),
            file("cloudwatch/dashboard.json"),
            &profile,
        )
        .unwrap_or_else(|e| panic!("{env}: {e}"));
        let prefix = profile.alarm_prefix();
        for (alarm, metric) in [
            ("api-5xx-rate", "Api5xxErrors"),
            ("api-5xx-rate", "ApiRequests"),
            ("api-p99-latency", "ApiLatency"),
            ("batches-rejected", "BatchesRejected"),
            ("batches-failed", "BatchesFailed"),
        ] {
            let what = format!("alarm {prefix}{alarm}");
            assert!(
                uses.iter().any(|u| u.what == what && u.metric == metric),
                "{env}: {what} reading {metric} was not checked: {uses:#?}"
            );
        }
        // Every contract metric shows on the dashboard, so nothing is emitted unseen.
        for metric in rates_contract::metrics::ALL {
            let shown = uses
                .iter()
                .any(|u| u.what.starts_with("dashboard") && u.metric == metric.name);
            let sampled = metric.emitted_by == rates_contract::metrics::Emitter::QueueSample;
            // The queue sample is shown from SQS's own metrics (the worker's sample covers
            // the PostgreSQL backend, which AWS environments do not use).
            assert!(shown || sampled, "{env}: {} is on no widget", metric.name);
        }
    }
}

/// The check fails a render whose alarm or widget names a metric the runtime does not emit,
/// or reads it with other dimensions or another unit: shown on copies of the templates
/// with one mistake injected each.
#[test]
fn a_metric_the_runtime_does_not_emit_fails_the_render() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "cloudwatch/alarms.json.j2",
            r#""MetricName": {{ cm.api_latency.name|tojson }},"#,
            r#""MetricName": "ApiLatencyP99","#,
            &[
                "alarm rates-staging-api-p99-latency",
                "Rates/ApiLatencyP99",
                "does not emit",
            ],
        ),
        (
            "cloudwatch/alarms.json.j2",
            r#""MetricName": {{ cm.api_5xx_errors.name|tojson }}"#,
            r#""MetricName": "Api5xxErrorCount""#,
            &["alarm rates-staging-api-5xx-rate", "Api5xxErrorCount"],
        ),
        (
            "cloudwatch/alarms.json.j2",
            r#""Dimensions": {{ cm.batches_failed.dimensions|tojson }},"#,
            r#""Dimensions": [{"Name": "Environment", "Value": "staging"}],"#,
            &[
                "alarm rates-staging-batches-failed",
                "[Environment=staging]",
                "[Environment=staging, Service=rates]",
            ],
        ),
        (
            "cloudwatch/alarms.json.j2",
            r#""MetricName": {{ cm.api_latency.name|tojson }},"#,
            r#""MetricName": {{ cm.api_latency.name|tojson }}, "Unit": "Seconds","#,
            &[
                "alarm rates-staging-api-p99-latency",
                "in Seconds",
                "Milliseconds",
            ],
        ),
        (
            "cloudwatch/dashboard.json.j2",
            "[ns, cm.rows_ingested.name]",
            r#"[ns, "RowsInserted"]"#,
            &[
                "dashboard widget 1 (Ingest: rows per second)",
                "RowsInserted",
            ],
        ),
    ];
    let profile_of = |dir: &Path| Profile::load(dir, "staging").unwrap();
    for (template, from, to, expected) in cases {
        let project = project_copy();
        // The untouched copy renders.
        render::render(project.path(), &profile_of(project.path())).unwrap();
        let path = project.path().join("templates").join(template);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{template} no longer has `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let err = render::render(project.path(), &profile_of(project.path()))
            .expect_err(&format!("{template} with `{to}` rendered"))
            .to_string();
        for fragment in *expected {
            assert!(err.contains(fragment), "`{fragment}` not in: {err}");
        }
    }
}

/// Every environment variable envctl gives the runtime's containers (the `rates-config`
/// ConfigMap and each container's `env`) is a setting of the contract, so a misspelt name
/// cannot be silently ignored by the runtime. HOST_IP only builds RATES_EMF_ENDPOINT.
#[test]
fn the_runtime_environment_uses_only_contract_settings() {
    for env in Profile::names(&root()).unwrap() {
        let r = rendered(&env);
        let mut names: Vec<String> = Vec::new();
        for (path, text) in &r.files {
            if !render::slash_path(path).starts_with("k8s/") {
                continue;
            }
            for doc in serde_yaml::Deserializer::from_str(text) {
                let doc = serde_json::to_value(
                    <serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap(),
                )
                .unwrap();
                if doc["kind"] == "ConfigMap" && doc["metadata"]["name"] == "rates-config" {
                    names.extend(doc["data"].as_object().unwrap().keys().cloned());
                }
                let pod = if doc["kind"] == "CronJob" {
                    &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                } else {
                    &doc["spec"]["template"]["spec"]
                };
                for container in pod["containers"].as_array().into_iter().flatten() {
                    for var in container["env"].as_array().into_iter().flatten() {
                        names.push(var["name"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        if env != "local" {
            assert!(
                names.iter().any(|n| n == "RATES_QUEUE_BACKEND"),
                "{env}: {names:?}"
            );
        }
        for name in names {
            assert!(
                name == "HOST_IP" || rates_contract::settings::find(&name).is_some(),
                "{env}: the runtime's containers get {name}, which is no setting of rates-contract"
            );
        }
    }
}
