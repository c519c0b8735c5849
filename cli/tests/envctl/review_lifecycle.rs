//! `envctl review up/down/list/gc` end to end: the marker stack on the moto server
//! (CloudFormation through the real SDK), the real binary, the deploy through real
//! Terraform core (state per stack in the S3 backend) or, where a test says why, the
//! terraform stand-in, and the in-test Kubernetes API (support/).

use std::time::{Duration, Instant};

use crate::support::review::Stand;
use envctl::review::{PrNumber, ReviewName};
use predicates::prelude::*;

fn name(pr: u64, branch: &str) -> String {
    ReviewName::new(PrNumber::new(pr).unwrap(), Some(branch))
        .unwrap()
        .to_string()
}

/// `review up` as the workflow runs it; returns the result document.
fn up(stand: &Stand, now: &str, args: &[&str]) -> serde_json::Value {
    let out = stand
        .envctl()
        .env("ENVCTL_NOW", now)
        .args(["--output", "json", "--yes", "review", "up"])
        .args(args)
        .succeeds();
    out.result()
}

#[test]
fn up_records_and_deploys_rerun_extends_down_removes_everything() {
    let stand = Stand::new();
    let env = name(42, "feature/Add-Rates");
    stand.w.provision_infrastructure(&env);

    let first = up(
        &stand,
        "2030-06-10T12:00:00Z",
        &[
            "--pr",
            "42",
            "--branch",
            "feature/Add-Rates",
            "--ttl",
            "48h",
        ],
    );
    assert_eq!(first["command"], "review up");
    assert_eq!(first["environment"], env.as_str());
    assert_eq!(first["status"], "ready");
    assert_eq!(first["existed"], false);
    assert_eq!(first["created_at"], "2030-06-10T12:00:00Z");
    assert_eq!(first["expires_at"], "2030-06-12T12:00:00Z");
    assert_eq!(first["owner"], "octo-reviewer");
    assert_eq!(first["up"]["environment"], env.as_str());
    let comment = first["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("<!-- envctl-review-stack -->"),
        "{comment}"
    );
    assert!(
        comment.contains(&env) && comment.contains("2030-06-12T12:00:00Z"),
        "{comment}"
    );

    // The cloud-side record.
    let marker = stand.marker(42).expect("marker stack envctl-review-pr42");
    assert_eq!(marker["envctl:environment"], env);
    assert_eq!(marker["envctl:status"], "ready");
    assert_eq!(marker["envctl:last-error"], "-");
    assert_eq!(marker["envctl:branch"], "feature/Add-Rates");
    assert_eq!(marker["envctl:owner"], "octo-reviewer");
    assert_eq!(marker["envctl:expires-at"], "2030-06-12T12:00:00Z");
    // The environment itself: alarms with its prefix, its namespace in Kubernetes.
    let prefix = format!("rates-{env}-");
    assert!(stand
        .w
        .alarms()
        .iter()
        .any(|a| a.alarm_name().unwrap().starts_with(&prefix)));
    let namespace = format!("rates-{env}");
    assert!(
        stand
            .w
            .kube
            .keys()
            .iter()
            .any(|(_, ns, _)| *ns == namespace),
        "{:?}",
        stand.w.kube.keys()
    );
    assert!(
        stand.terraform_calls().contains("apply"),
        "{}",
        stand.terraform_calls()
    );
    // Real core applied the review root under the stack's own state key, and created the
    // cluster envctl then deployed to.
    let applied = stand.w.state_resources(&env).unwrap_or(0);
    assert!(applied > 50, "{env}'s state holds the root: {applied}");
    assert!(stand.w.cluster_exists(&format!("rates-{env}")));

    // Listed from the cloud with age and expiry.
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-11T12:00:00Z")
        .args(["review", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&env))
        .stdout(predicate::str::contains("ready"))
        .stdout(predicate::str::contains("1d 0h"))
        .stdout(predicate::str::contains("in 1d 0h"));

    // Re-running a day later extends the expiry from then and redeploys; the creation
    // time stays. Another --branch keeps the existing name rather than orphaning it.
    let again = up(
        &stand,
        "2030-06-11T12:00:00Z",
        &["--pr", "42", "--branch", "renamed", "--ttl", "72h"],
    );
    assert_eq!(again["existed"], true);
    assert_eq!(again["environment"], env.as_str());
    assert_eq!(again["kept_name_instead_of"], name(42, "renamed").as_str());
    assert_eq!(again["created_at"], "2030-06-10T12:00:00Z");
    assert_eq!(again["expires_at"], "2030-06-14T12:00:00Z");
    assert_eq!(
        stand.marker(42).unwrap()["envctl:expires-at"],
        "2030-06-14T12:00:00Z"
    );
    assert_eq!(stand.listed_prs(), [42]);

    // gc before the new expiry leaves it alone, though the first expiry has passed.
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-13T00:00:00Z")
        .args(["--yes", "review", "gc"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 to tear down"));
    assert!(stand.marker(42).is_some());

    // Down: everything of the environment goes, the marker last.
    let out = stand
        .envctl()
        .args(["--output", "json", "--yes", "review", "down", "--pr", "42"])
        .succeeds();
    let down = out.result();
    assert_eq!(down["found"], true);
    assert_eq!(down["resumed"], false);
    assert!(stand.marker(42).is_none(), "the marker is deleted");
    assert!(!stand
        .w
        .alarms()
        .iter()
        .any(|a| a.alarm_name().unwrap().starts_with(&prefix)));
    assert!(!stand
        .w
        .kube
        .keys()
        .iter()
        .any(|(p, ns, _)| *ns == namespace && p != "events" && p != "pods"));
    assert!(
        stand.terraform_calls().contains("-destroy"),
        "{}",
        stand.terraform_calls()
    );
    assert_eq!(stand.w.state_resources(&env), Some(0), "destroyed");
    assert!(!stand.w.cluster_exists(&format!("rates-{env}")));
    assert!(stand.listed_prs().is_empty());

    // Already gone: still success.
    stand
        .envctl()
        .args(["--yes", "review", "down", "--pr", "42"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to tear down"));
}

#[test]
fn an_interrupted_teardown_is_listed_and_resumed() {
    // Stand-in: a teardown that hangs until interrupted (TF_STANDIN_HANG_APPLY).
    let stand = Stand::with_standin();
    let env = name(7, "fix/flaky");
    stand.w.provision_infrastructure(&env);
    up(
        &stand,
        "2030-06-10T12:00:00Z",
        &["--pr", "7", "--branch", "fix/flaky"],
    );

    // Interrupt the teardown in the middle of `terraform destroy` (Ctrl-C).
    let child = stand
        .w
        .envctl_std()
        .args(["--yes", "review", "down", "--pr", "7"])
        .env("TF_STANDIN_HANG_APPLY", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock_log = stand.w.tf_dir.join("lock.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    // The second "locked apply": the first was review up's apply.
    while std::fs::read_to_string(&lock_log)
        .unwrap_or_default()
        .matches("locked apply")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "terraform destroy never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The marker stays, says deleting, and says why: the stack is not forgotten.
    let marker = stand
        .marker(7)
        .expect("the marker outlives an interrupted teardown");
    assert_eq!(marker["envctl:status"], "deleting");
    assert_ne!(
        marker["envctl:last-error"], "-",
        "the error is recorded: {marker:?}"
    );
    let listed = stand.list();
    assert_eq!(listed["stacks"][0]["status"], "deleting");

    // Running down again resumes and finishes it.
    let out = stand
        .envctl()
        .args(["--output", "json", "--yes", "review", "down", "--pr", "7"])
        .succeeds();
    let down = out.result();
    assert_eq!(down["resumed"], true);
    assert_eq!(down["environment"], env.as_str());
    assert!(stand.marker(7).is_none());
    assert!(stand.listed_prs().is_empty());
}

#[test]
fn gc_tears_down_expired_and_closed_stacks_and_reports_it() {
    let stand = Stand::new();
    // PR 1 expires before gc runs; PR 2 (pushed later) and PR 3 (longer TTL) do not.
    for (pr, branch, now, ttl) in [
        (1, "a", "2030-06-10T12:00:00Z", "24h"),
        (3, "c", "2030-06-10T12:00:00Z", "72h"),
        (2, "b", "2030-06-11T06:00:00Z", "24h"),
    ] {
        stand.w.provision_infrastructure(&name(pr, branch));
        up(
            &stand,
            now,
            &["--pr", &pr.to_string(), "--branch", branch, "--ttl", ttl],
        );
    }

    // At 2030-06-11T13:00: PR 1 expired; PR 2 live and open; PR 3 live but closed.
    let out = stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-11T13:00:00Z")
        .args([
            "--output",
            "json",
            "--yes",
            "review",
            "gc",
            "--open-prs",
            "2,3",
        ])
        .succeeds();
    let gc = &out.result()["gc"];
    let torn: Vec<u64> = gc["torn_down"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pr"].as_u64().unwrap())
        .collect();
    assert_eq!(torn, [1]);
    assert_eq!(stand.listed_prs(), [2, 3]);
    // Each stack has its own state: PR 1's teardown emptied its state and deleted its
    // cluster, and left the other two stacks' state and clusters alone.
    let stack_state = |pr: u64, branch: &str| {
        let env = name(pr, branch);
        (
            stand.w.state_resources(&env).unwrap_or(0),
            stand.w.cluster_exists(&format!("rates-{env}")),
        )
    };
    assert_eq!(stack_state(1, "a"), (0, false), "PR 1 torn down");
    for (pr, branch) in [(2, "b"), (3, "c")] {
        let (resources, cluster) = stack_state(pr, branch);
        assert!(
            resources > 50 && cluster,
            "PR {pr} untouched: {resources} resources, cluster {cluster}"
        );
    }

    let out = stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-11T13:00:00Z")
        .args(["--yes", "review", "gc", "--open-prs", "2"])
        .succeeds();
    let text = out.stdout;
    assert!(
        text.contains("PR 3") && text.contains("pull request closed") && text.contains("torn down"),
        "{text}"
    );
    assert_eq!(stand.listed_prs(), [2]);
    assert_eq!(stack_state(3, "c"), (0, false), "PR 3 torn down");
    let (resources, cluster) = stack_state(2, "b");
    assert!(resources > 50 && cluster, "PR 2 untouched: {resources}");
}

#[test]
fn hostile_branch_names_become_safe_stack_names() {
    let stand = Stand::new();
    let long = "x".repeat(300);
    for (pr, branch) in [
        (11, "../../x"),
        (12, "日本語/ветка"),
        (13, long.as_str()),
        (14, "-rf $(id)"),
    ] {
        let env = name(pr, branch);
        stand.w.provision_infrastructure(&env);
        let branch_arg = format!("--branch={branch}");
        let doc = up(
            &stand,
            "2030-06-10T12:00:00Z",
            &["--pr", &pr.to_string(), &branch_arg],
        );
        let got = doc["environment"].as_str().unwrap();
        assert_eq!(got, env);
        assert!(got.len() <= 32, "{got}");
        assert!(
            got.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{got}"
        );
        // Every AWS/Kubernetes name derived from it fits the tightest limits.
        assert!(
            format!("rates-{got}-batches-123456789012").len() <= 63,
            "bucket name for {got}"
        );
        assert!(format!("rates-{got}").len() <= 63, "namespace for {got}");
    }
    assert_eq!(stand.listed_prs(), [11, 12, 13, 14]);

    // Refused before anything is created: an empty branch, PR 0, a TTL out of range.
    for args in [
        vec!["--pr", "15", "--branch="],
        vec!["--pr", "0"],
        vec!["--pr", "15", "--ttl", "5m"],
        vec!["--pr", "15", "--ttl", "90d"],
    ] {
        stand
            .envctl()
            .args(["--yes", "review", "up"])
            .args(&args)
            .assert()
            .failure();
    }
    assert!(stand.marker(15).is_none());
}

#[test]
fn a_failed_deploy_is_recorded_and_still_expires_and_down_asks_first() {
    let stand = Stand::new();
    let env = name(21, "broken-migration");
    stand.w.provision_infrastructure(&env);
    stand
        .w
        .kube
        .store
        .lock()
        .unwrap()
        .failing_jobs
        .insert("*".into());

    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-10T12:00:00Z")
        .args([
            "--yes",
            "review",
            "up",
            "--pr",
            "21",
            "--branch",
            "broken-migration",
        ])
        .assert()
        .failure();
    let marker = stand.marker(21).expect("a failed deploy keeps its marker");
    assert_eq!(marker["envctl:status"], "failed");
    assert_ne!(marker["envctl:last-error"], "-", "{marker:?}");
    assert_eq!(marker["envctl:expires-at"], "2030-06-13T12:00:00Z");
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-13T12:00:00Z")
        .args(["review", "gc", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("PR 21"))
        .stdout(predicate::str::contains("would be torn down"));

    // No terminal and no --yes: refused before anything is recorded or changed.
    stand
        .envctl()
        .args(["review", "up", "--pr", "22"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--yes"));
    assert!(stand.marker(22).is_none());
    // No terminal and no --yes: refused, and nothing changes.
    stand
        .envctl()
        .args(["review", "down", "--pr", "21"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(stand.marker(21).unwrap()["envctl:status"], "failed");
    assert!(!stand.terraform_calls().contains("-destroy"));

    // Fixed and pushed again: the same stack becomes ready and the old error is cleared.
    stand.w.kube.store.lock().unwrap().failing_jobs.clear();
    let doc = up(
        &stand,
        "2030-06-10T13:00:00Z",
        &["--pr", "21", "--branch", "broken-migration"],
    );
    assert_eq!(doc["existed"], true);
    let marker = stand.marker(21).unwrap();
    assert_eq!(marker["envctl:status"], "ready");
    assert_eq!(marker["envctl:last-error"], "-");
}
