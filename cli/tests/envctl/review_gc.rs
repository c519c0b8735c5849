//! `envctl review list` and `envctl review gc` against the moto server: listing from the
//! cloud side (all pages), expiry and closed PRs honoured (open ones kept), and gc failing safe — nothing
//! deleted — when a listing call fails or a marker does not read back.

use crate::support::review::{FailingProxy, Stand};
use envctl::review::Status;
use predicates::prelude::*;

const NOW: &str = "2030-06-10T12:00:00Z";

/// Three stacks: PR 1 expired, PR 2 live, PR 3 live (its PR is closed in some tests).
fn three_stacks(stand: &Stand) {
    stand.seed(
        1,
        "review-pr1-old-abc123",
        "2030-06-01T00:00:00Z",
        "2030-06-04T00:00:00Z",
        Status::Ready,
    );
    stand.seed(
        2,
        "review-pr2",
        "2030-06-09T00:00:00Z",
        "2030-06-12T00:00:00Z",
        Status::Ready,
    );
    stand.seed(
        3,
        "review-pr3-x-def456",
        "2030-06-09T00:00:00Z",
        "2030-06-12T00:00:00Z",
        Status::Failed,
    );
}

#[test]
fn list_reads_every_stack_from_the_cloud_across_pages() {
    let stand = Stand::new();
    // moto pages DescribeStacks at 50: 55 markers need two pages.
    for pr in 1..=55 {
        stand.seed(
            pr,
            &format!("review-pr{pr}"),
            "2030-06-09T00:00:00Z",
            "2030-06-12T00:00:00Z",
            Status::Ready,
        );
    }
    // A stack that is not a review marker is not listed.
    stand.raw_stack("some-other-stack", &[("team", "data")]);

    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["--output", "json", "review", "list"])
        .succeeds();
    let doc = out.result();
    let stacks = doc["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 55);
    assert_eq!(stacks[0]["pr"], 1);
    assert_eq!(stacks[0]["environment"], "review-pr1");
    assert_eq!(stacks[0]["status"], "ready");
    assert_eq!(stacks[0]["owner"], "seeded");
    assert_eq!(stacks[0]["stack_name"], "envctl-review-pr1");
    assert_eq!(stacks[0]["age_seconds"], 36 * 3600);
    assert_eq!(stacks[0]["expires_in_seconds"], 36 * 3600);
    assert_eq!(stacks[0]["expired"], false);
    assert!(doc["problems"].as_array().unwrap().is_empty());

    stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["review", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("review-pr55"))
        .stdout(predicate::str::contains("1d 12h"))
        .stdout(predicate::str::contains("in 1d 12h"));
}

#[test]
fn gc_dry_run_reports_expired_and_closed_stacks_and_touches_nothing() {
    let stand = Stand::new();
    three_stacks(&stand);
    let before = stand.stacks();

    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args([
            "--output",
            "json",
            "review",
            "gc",
            "--dry-run",
            "--open-prs",
            "1,2",
        ])
        .succeeds();
    let gc = &out.result()["gc"];
    assert_eq!(gc["dry_run"], true);
    assert_eq!(gc["listed"], 3);
    let selected: Vec<(u64, Vec<String>)> = gc["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["marker"]["pr"].as_u64().unwrap(),
                d["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["reason"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    // PR 1 expired, but its pull request is open: kept until its maximum lifetime.
    assert_eq!(selected, [(3, vec!["pr-closed".to_string()])]);
    assert_eq!(gc["kept_open"][0]["marker"]["pr"], 1);
    assert_eq!(gc["pr_states"]["source"], "open-prs");
    assert!(gc["torn_down"].as_array().unwrap().is_empty());
    assert_eq!(stand.stacks(), before, "a dry run changes nothing");
    assert!(
        stand.terraform_calls().is_empty(),
        "a dry run runs no terraform"
    );

    // Without --open-prs (and no GitHub token), only expiry counts; before PR 1's expiry,
    // nothing is due.
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-03T23:59:59Z")
        .args(["review", "gc", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "3 review stack(s) listed, 0 to tear down",
        ));
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-04T00:00:00Z")
        .args(["review", "gc", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("PR 1 "))
        .stdout(predicate::str::contains("would be torn down"))
        .stdout(predicate::str::contains("PR 3 ").not());
}

#[test]
fn gc_deletes_nothing_when_the_listing_call_fails() {
    let stand = Stand::new();
    three_stacks(&stand);
    let before = stand.stacks();
    // Fail the listing (DescribeStacks without a stack name); let everything else through.
    let proxy = FailingProxy::start(stand.w.moto.port(), |body| {
        body.contains("Action=DescribeStacks") && !body.contains("StackName=")
    });

    let out = stand
        .envctl_via(&proxy.endpoint_url())
        .env("ENVCTL_NOW", NOW)
        .args(["--yes", "review", "gc", "--open-prs", "2"])
        .run();
    let stderr = &out.stderr;
    assert!(out.code != 0, "gc must fail when it cannot list:\n{stderr}");
    assert!(stderr.contains("DescribeStacks"), "{stderr}");
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(stand.stacks(), before, "nothing may be deleted or changed");
    assert!(stand.terraform_calls().is_empty(), "no teardown may start");

    // `review list` fails loudly too.
    stand
        .envctl_via(&proxy.endpoint_url())
        .args(["review", "list"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("DescribeStacks"));
}

#[test]
fn gc_deletes_nothing_when_a_marker_does_not_read_back() {
    let stand = Stand::new();
    three_stacks(&stand);
    // A marker whose expiry tag is garbage: gc cannot know whether it is due, so it
    // must not trust the rest of the listing either.
    stand.raw_stack(
        "envctl-review-pr9",
        &[
            ("envctl:review", "v1"),
            ("envctl:environment", "review-pr9"),
            ("envctl:pr", "9"),
            ("envctl:owner", "someone"),
            ("envctl:created-at", "2030-06-01T00:00:00Z"),
            ("envctl:expires-at", "soon"),
            ("envctl:status", "ready"),
        ],
    );
    let before = stand.stacks();

    stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["--yes", "review", "gc"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("deletes nothing"))
        .stderr(predicate::str::contains("envctl-review-pr9"))
        .stderr(predicate::str::contains("envctl:expires-at"));
    assert_eq!(stand.stacks(), before);
    assert!(stand.terraform_calls().is_empty());

    // `review list` shows the good ones and the problem, and exits non-zero.
    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["--output", "json", "review", "list"])
        .fails();
    let doc = out.result();
    assert_eq!(doc["stacks"].as_array().unwrap().len(), 3);
    assert!(doc["problems"][0]
        .as_str()
        .unwrap()
        .contains("envctl-review-pr9"));
}

#[test]
fn bad_open_pr_lists_are_refused_before_any_call() {
    let stand = Stand::new();
    three_stacks(&stand);
    let before = stand.stacks();
    stand
        .envctl()
        .args(["--yes", "review", "gc", "--open-prs", "1,,2"])
        .assert()
        .failure();
    stand
        .envctl()
        .args(["--yes", "review", "gc", "--open-prs", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pull request number"));
    assert_eq!(stand.stacks(), before);
}
