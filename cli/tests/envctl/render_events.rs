//! Batch outcome webhooks in the rendered environment: a profile's `runtime.events` reaches
//! the runtime's settings, the Deployments read the signing key's Secret only when there
//! is a webhook, Terraform makes the key's secret only then, and bad URLs are refused by
//! the real binary naming file, line and key.

use envctl::profile::{Profile, WebhookUrl};
use envctl::render;
use std::path::Path;

use crate::support::profiles::assert_refused;
use crate::support::repo_root as repo;
use crate::support::Envctl;

fn file<'a>(r: &'a render::Rendered, name: &str) -> &'a str {
    r.files
        .get(Path::new(name))
        .unwrap_or_else(|| panic!("{name} is not rendered"))
}

/// The Secrets the Deployment in a rendered file reads through envFrom.
fn secret_refs(r: &render::Rendered, name: &str) -> Vec<String> {
    use serde::Deserialize;
    let doc = serde_yaml::Deserializer::from_str(file(r, name))
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    doc["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|e| e["secretRef"]["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_webhook_reaches_the_settings_the_deployments_and_terraform_and_nothing_without_one() {
    let plain = Profile::load(&repo(), "staging").unwrap();
    let r = render::render(&repo(), &plain).unwrap();
    assert!(!file(&r, "k8s/10-config.yaml").contains("RATES_WEBHOOK_URL"));
    assert!(file(&r, "k8s/10-config.yaml").contains("RATES_WEBHOOK_MAX_ATTEMPTS: \"10\""));
    for deployment in ["k8s/40-api.yaml", "k8s/50-worker.yaml"] {
        assert_eq!(secret_refs(&r, deployment), ["rates-database"]);
    }
    assert!(file(&r, "terraform/main.tf").contains("webhook_secret_name        = null"));

    let mut hooked = plain.clone();
    hooked.runtime.events.webhook_url = Some(
        WebhookUrl::try_from("https://hooks.example.com/rates?team=pricing".to_string()).unwrap(),
    );
    hooked.runtime.events.max_attempts = 25;
    let r = render::render(&repo(), &hooked).unwrap();
    let config = file(&r, "k8s/10-config.yaml");
    assert!(
        config.contains("RATES_WEBHOOK_URL: \"https://hooks.example.com/rates?team=pricing\""),
        "{config}"
    );
    assert!(config.contains("RATES_WEBHOOK_MAX_ATTEMPTS: \"25\""));
    assert!(
        !config.contains("RATES_WEBHOOK_SECRET"),
        "the key is never rendered"
    );
    for deployment in ["k8s/40-api.yaml", "k8s/50-worker.yaml"] {
        assert_eq!(
            secret_refs(&r, deployment),
            ["rates-database", envctl::render::EVENTS_SECRET],
            "{deployment}"
        );
    }
    // The migration Job delivers nothing and reads no key.
    assert!(!file(&r, "k8s/30-migrate-job.yaml").contains(envctl::render::EVENTS_SECRET));
    assert!(file(&r, "terraform/main.tf")
        .contains("webhook_secret_name        = \"${local.name}/events/webhook-secret\""));
    assert!(file(&r, "terraform/outputs.tf").contains("output \"webhook_secret_arn\""));
}

#[test]
fn webhook_urls_that_would_leak_or_cannot_work_are_refused_where_they_are_written() {
    assert_refused(
        "extends: base\nruntime:\n  events:\n    webhook_url: http://hooks.example.com/rates\n",
        "environments/bad.yaml:4: `runtime.events.webhook_url`",
        "a webhook of an AWS environment must use https://",
    );
    assert_refused(
        "extends: base\nruntime:\n  events:\n    webhook_url: https://me:pw@hooks.example.com/\n",
        "environments/bad.yaml:4",
        "carries credentials",
    );
    assert_refused(
        "extends: base\nruntime:\n  events:\n    webhook_url: hooks.example.com/rates\n",
        "environments/bad.yaml:4",
        "is not a URL",
    );
    assert_refused(
        "extends: base\nruntime:\n  events:\n    max_attempts: 0\n",
        "environments/bad.yaml:4: `runtime.events.max_attempts`",
        "1",
    );
    // Plain http is for one machine, where the receiver is on the loopback.
    let dir = crate::support::profiles::project(&[(
        "mine",
        "extends: base\ntarget: local\nruntime:\n  events:\n    webhook_url: http://127.0.0.1:9000/hook\n",
    )]);
    Profile::load(dir.path(), "mine").unwrap();
}

#[test]
fn the_local_only_webhook_flag_is_refused_for_an_aws_environment() {
    let run = Envctl::new()
        .current_dir(repo())
        .args([
            "up",
            "staging",
            "--webhook-url",
            "https://hooks.example.com/x",
        ])
        .fails();
    let err = crate::support::normalize(&run.stderr);
    assert!(err.contains("--webhook-url"), "{err}");
    assert!(
        err.contains("runtime.events.webhook_url in its profile"),
        "{err}"
    );
}
