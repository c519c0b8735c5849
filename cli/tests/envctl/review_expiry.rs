//! Review stacks that warn before they expire, against the moto server and the GitHub API
//! stand-in (built from GitHub's OpenAPI description): `review warn` comments once per
//! stack expiry, `review extend` moves the expiry and is refused past the review profile's
//! maximum lifetime, and `review gc` keeps an open pull request's stack until that maximum.

use crate::support::github_api::GitHubApi;
use crate::support::review::Stand;
use envctl::review::{PrNumber, ReviewName, Status};

const NOW: &str = "2030-06-10T12:00:00Z";

fn github() -> GitHubApi {
    GitHubApi::start("example-org", "rates")
}

fn warn(stand: &Stand, gh: &GitHubApi, now: &str) -> serde_json::Value {
    stand
        .envctl_github(gh)
        .env("ENVCTL_NOW", now)
        .args(["--output", "json", "review", "warn"])
        .succeeds()
        .result()["warn"]
        .clone()
}

/// (pr, outcome) of a warn report.
fn outcomes(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pr"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn warn_comments_once_per_expiry_and_again_after_an_extension() {
    let stand = Stand::new();
    let gh = github();
    // PR 7: 36 h left (not yet due). PR 8: 12 h left. PR 9: 18 h left, but closed.
    // PR 10: 6 h left, already warned: its warning is on the second page of 150 comments.
    for (pr, expires) in [
        (7, "2030-06-12T00:00:00Z"),
        (8, "2030-06-11T00:00:00Z"),
        (9, "2030-06-11T06:00:00Z"),
        (10, "2030-06-10T18:00:00Z"),
    ] {
        stand.seed(
            pr,
            &format!("review-pr{pr}"),
            "2030-06-09T00:00:00Z",
            expires,
            Status::Ready,
        );
        gh.set_pull(pr, pr != 9);
    }
    gh.seed_comments(10, 120, "looks good");
    gh.seed_comments(
        10,
        1,
        "<!-- envctl-review-expiry-warning environment=review-pr10 expires-at=2030-06-10T18:00:00Z -->\nold warning",
    );
    gh.seed_comments(10, 29, "more review");

    let report = warn(&stand, &gh, NOW);
    assert_eq!(
        outcomes(&report),
        [
            (8, "posted".to_string()),
            (9, "pull request closed".to_string()),
            (10, "already warned".to_string()),
        ]
    );
    let bodies = gh.comment_bodies(8);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert!(body.starts_with(
        "<!-- envctl-review-expiry-warning environment=review-pr8 expires-at=2030-06-11T00:00:00Z -->"
    ));
    assert!(body.contains("expires in about 12 hours"), "{body}");
    assert!(body.contains("**2030-06-11T00:00:00Z**"), "{body}");
    // Created 2030-06-09, review.yaml's 14-day maximum.
    assert!(body.contains("2030-06-23T00:00:00Z"), "{body}");
    assert!(body.contains("`review-extend`"), "{body}");
    assert!(
        body.contains("envctl review extend --pr 8 --by 2d"),
        "{body}"
    );
    assert!(gh.comment_bodies(7).is_empty() && gh.comment_bodies(9).is_empty());
    assert_eq!(
        gh.comment_bodies(10).len(),
        150,
        "PR 10 is not warned twice"
    );
    // PR 10's listing took two pages (per_page=100, following the Link header).
    let pages = gh
        .seen()
        .iter()
        .filter(|s| s.operation == "issues/list-comments" && s.path.ends_with("/10/comments"))
        .count();
    assert_eq!(pages, 2);

    // A re-run (the next hourly sweep) finds its own comment and posts nothing.
    let report = warn(&stand, &gh, "2030-06-10T13:00:00Z");
    assert_eq!(outcomes(&report)[0], (8, "already warned".to_string()));
    assert_eq!(gh.comment_bodies(8).len(), 1);

    // An extension is a new expiry: warned again when that one comes close.
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-10T14:00:00Z")
        .args(["review", "extend", "--pr", "8", "--by", "2d"])
        .succeeds();
    let report = warn(&stand, &gh, "2030-06-10T15:00:00Z");
    assert!(
        !outcomes(&report).iter().any(|(pr, _)| *pr == 8),
        "not due any more"
    );
    let report = warn(&stand, &gh, "2030-06-12T01:00:00Z");
    assert!(outcomes(&report).contains(&(8, "posted".to_string())));
    let bodies = gh.comment_bodies(8);
    assert_eq!(bodies.len(), 2);
    assert!(bodies[1].contains("expires-at=2030-06-13T00:00:00Z"));

    gh.assert_no_violations();
    let ops: std::collections::BTreeSet<String> =
        gh.seen().into_iter().map(|s| s.operation).collect();
    assert_eq!(
        ops.into_iter().collect::<Vec<_>>(),
        ["issues/create-comment", "issues/list-comments", "pulls/get"]
    );
}

#[test]
fn warn_needs_a_token_and_a_dry_run_posts_nothing() {
    let stand = Stand::new();
    let gh = github();
    stand.seed(
        8,
        "review-pr8",
        "2030-06-09T00:00:00Z",
        "2030-06-11T00:00:00Z",
        Status::Ready,
    );
    gh.set_pull(8, true);
    stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["review", "warn"])
        .fails()
        .says("GITHUB_TOKEN");
    let out = stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", NOW)
        .args(["review", "warn", "--dry-run"])
        .succeeds();
    assert!(out.stdout.contains("would post"), "{}", out.stdout);
    assert!(gh.comment_bodies(8).is_empty());

    // A token GitHub refuses fails the run, naming the operation and what to check.
    stand
        .envctl_github(&gh)
        .env("GITHUB_TOKEN", "ghs_wrong")
        .env("ENVCTL_NOW", NOW)
        .args(["review", "warn"])
        .fails()
        .says("pulls/get")
        .says("401");
    assert_eq!(gh.violations().len(), 1, "{:?}", gh.violations());
}

#[test]
fn extend_moves_the_expiry_and_is_refused_past_the_maximum() {
    let stand = Stand::new();
    // Created 2030-06-01: review.yaml's 14-day maximum ends 2030-06-15T00:00:00Z.
    stand.seed(
        5,
        "review-pr5",
        "2030-06-01T00:00:00Z",
        "2030-06-11T00:00:00Z",
        Status::Ready,
    );
    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args([
            "--output", "json", "review", "extend", "--pr", "5", "--by", "2d",
        ])
        .succeeds();
    let doc = out.result();
    assert_eq!(doc["expires_at"], "2030-06-13T00:00:00Z");
    assert_eq!(doc["previous_expires_at"], "2030-06-11T00:00:00Z");
    assert_eq!(doc["maximum"], "2030-06-15T00:00:00Z");
    assert_eq!(
        stand.marker(5).unwrap()["envctl:expires-at"],
        "2030-06-13T00:00:00Z"
    );

    // Two more days would pass the maximum: refused, naming it; the record is unchanged.
    stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["review", "extend", "--pr", "5", "--by", "3d"])
        .fails()
        .says("2030-06-15T00:00:00Z")
        .says("14days")
        .says("review.max_lifetime")
        .says("extend it by at most 2days");
    assert_eq!(
        stand.marker(5).unwrap()["envctl:expires-at"],
        "2030-06-13T00:00:00Z"
    );
    // Up to the maximum exactly is fine.
    stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["review", "extend", "--pr", "5", "--by", "2d"])
        .succeeds();
    assert_eq!(
        stand.marker(5).unwrap()["envctl:expires-at"],
        "2030-06-15T00:00:00Z"
    );

    // No stack, a bad duration: clear errors.
    stand
        .envctl()
        .args(["review", "extend", "--pr", "6", "--by", "1d"])
        .fails()
        .says("has no review stack");
    stand
        .envctl()
        .args(["review", "extend", "--pr", "5", "--by", "soon"])
        .fails()
        .says("--by");
}

#[test]
fn up_never_sets_an_expiry_past_the_maximum() {
    let stand = Stand::new();
    let name = ReviewName::new(PrNumber::new(12).unwrap(), Some("x"))
        .unwrap()
        .to_string();
    stand.seed(
        12,
        &name,
        "2030-06-01T00:00:00Z",
        "2030-06-15T00:00:00Z",
        Status::Ready,
    );
    // Past the maximum, a push is refused before anything is recorded or deployed.
    stand
        .envctl()
        .env("ENVCTL_NOW", "2030-06-15T00:00:00Z")
        .args(["--yes", "review", "up", "--pr", "12", "--branch", "x"])
        .fails()
        .says("maximum lifetime")
        .says("2030-06-15T00:00:00Z");
    assert!(stand.terraform_calls().is_empty());
    assert_eq!(
        stand.marker(12).unwrap()["envctl:expires-at"],
        "2030-06-15T00:00:00Z"
    );
}

/// (pr, reasons) of a gc report's selection.
fn selected(gc: &serde_json::Value) -> Vec<(u64, Vec<String>)> {
    gc["selected"]
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
        .collect()
}

#[test]
fn gc_keeps_an_open_prs_stack_until_its_maximum() {
    let stand = Stand::new();
    let gh = github();
    // PR 1: expired long ago, still open. PR 2: live, open. PR 3: live, closed.
    for (pr, created, expires, open) in [
        (1, "2030-06-01T00:00:00Z", "2030-06-04T00:00:00Z", true),
        (2, "2030-06-09T00:00:00Z", "2030-06-12T00:00:00Z", true),
        (3, "2030-06-09T00:00:00Z", "2030-06-12T00:00:00Z", false),
    ] {
        let env = format!("review-pr{pr}");
        stand.w.provision_infrastructure(&env);
        stand.seed(pr, &env, created, expires, Status::Ready);
        gh.set_pull(pr, open);
    }

    let out = stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", NOW)
        .args(["--output", "json", "review", "gc", "--dry-run"])
        .succeeds();
    let gc = &out.result()["gc"];
    assert_eq!(gc["pr_states"]["source"], "github");
    assert_eq!(selected(gc), [(3, vec!["pr-closed".to_string()])]);
    assert_eq!(gc["kept_open"][0]["marker"]["pr"], 1);
    assert_eq!(gc["kept_open"][0]["until"], "2030-06-15T00:00:00Z");
    let out = stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", NOW)
        .args(["review", "gc", "--dry-run"])
        .succeeds();
    assert!(
        out.stdout
            .contains("expired at 2030-06-04T00:00:00Z: kept, its pull request is open")
            && out.stdout.contains("2030-06-15T00:00:00Z"),
        "{}",
        out.stdout
    );

    // One second before PR 1's maximum it still stays; at the maximum it goes, open or not.
    let out = stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", "2030-06-14T23:59:59Z")
        .args(["--output", "json", "--yes", "review", "gc"])
        .succeeds();
    assert_eq!(
        selected(&out.result()["gc"]),
        [(3, vec!["expired".to_string(), "pr-closed".to_string()])]
    );
    assert_eq!(stand.listed_prs(), [1, 2]);
    let out = stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", "2030-06-15T00:00:00Z")
        .args(["--output", "json", "--yes", "review", "gc"])
        .succeeds();
    let gc = &out.result()["gc"];
    assert_eq!(selected(gc), [(1, vec!["past-maximum".to_string()])]);
    assert_eq!(gc["torn_down"][0]["pr"], 1);
    // PR 2 expired on 2030-06-12 but is open: kept, and said so.
    assert_eq!(gc["kept_open"][0]["marker"]["pr"], 2);
    assert_eq!(stand.listed_prs(), [2]);
    gh.assert_no_violations();
}

#[test]
fn gc_says_what_it_assumes_without_a_token_and_deletes_nothing_when_github_fails() {
    let stand = Stand::new();
    let gh = github();
    stand.seed(
        1,
        "review-pr1",
        "2030-06-01T00:00:00Z",
        "2030-06-04T00:00:00Z",
        Status::Ready,
    );
    stand.seed(
        4,
        "review-pr4",
        "2030-06-09T00:00:00Z",
        "2030-06-12T00:00:00Z",
        Status::Ready,
    );
    gh.set_pull(1, true);
    let out = stand
        .envctl()
        .env("ENVCTL_NOW", NOW)
        .args(["review", "gc", "--dry-run"])
        .succeeds();
    assert!(
        out.stdout.contains(
            "no GITHUB_TOKEN and no --open-prs: pull request states unknown; assuming none is open"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("would be torn down"), "{}", out.stdout);

    // PR 4 is unknown to GitHub (404): gc cannot tell whether it is open, so it stops
    // before deleting anything, even PR 1's.
    let before = stand.stacks();
    stand
        .envctl_github(&gh)
        .env("ENVCTL_NOW", "2030-06-20T00:00:00Z")
        .args(["--yes", "review", "gc"])
        .fails()
        .says("pulls/get #4")
        .says("404");
    assert_eq!(stand.stacks(), before);
    assert!(stand.terraform_calls().is_empty());
    gh.assert_no_violations();
}

/// The stand-in refuses what GitHub would refuse, by the operation's definition: so the
/// tests above passing means envctl's requests are ones GitHub accepts.
#[test]
fn the_github_stand_in_refuses_requests_that_break_the_description() {
    let gh = github();
    gh.set_pull(8, true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let base = format!("{}/repos/example-org/rates", gh.url());
    let token = format!("Bearer {}", crate::support::github_api::TOKEN);
    let send =
        |method: reqwest::Method, url: String, body: Option<serde_json::Value>, auth: bool| {
            let mut req = client.request(method, url).header("User-Agent", "test");
            if auth {
                req = req.header("Authorization", &token);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            rt.block_on(async { req.send().await.unwrap().status().as_u16() })
        };
    use reqwest::Method;
    let comments = format!("{base}/issues/8/comments");
    let cases = [
        // (what, status)
        (
            "the body's required field missing",
            send(
                Method::POST,
                comments.clone(),
                Some(serde_json::json!({ "text": "x" })),
                true,
            ),
            422,
        ),
        (
            "a field of the wrong type",
            send(
                Method::POST,
                comments.clone(),
                Some(serde_json::json!({ "body": 5 })),
                true,
            ),
            422,
        ),
        (
            "no body at all",
            send(Method::POST, comments.clone(), None, true),
            422,
        ),
        (
            "a path parameter of the wrong type",
            send(Method::GET, format!("{base}/pulls/eight"), None, true),
            422,
        ),
        (
            "an unknown query parameter",
            send(Method::GET, format!("{comments}?sort=asc"), None, true),
            422,
        ),
        (
            "a method the path does not have",
            send(Method::DELETE, format!("{base}/pulls/8"), None, true),
            404,
        ),
        (
            "a path GitHub does not have",
            send(Method::GET, format!("{base}/pull/8"), None, true),
            404,
        ),
        (
            "no token",
            send(Method::GET, format!("{base}/pulls/8"), None, false),
            401,
        ),
    ];
    for (what, got, want) in cases {
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(gh.violations().len(), 8, "{:#?}", gh.violations());
    // And the good requests pass.
    assert_eq!(
        send(Method::GET, format!("{base}/pulls/8"), None, true),
        200
    );
    assert_eq!(
        send(
            Method::POST,
            comments.clone(),
            Some(serde_json::json!({ "body": "hi" })),
            true
        ),
        201
    );
    assert_eq!(
        send(
            Method::GET,
            format!("{comments}?per_page=100&page=1"),
            None,
            true
        ),
        200
    );
    assert_eq!(gh.violations().len(), 8);
    assert_eq!(gh.comment_bodies(8), ["hi"]);
}

#[test]
fn the_review_profiles_lifetime_keys_are_checked_naming_file_line_and_key() {
    let stand = Stand::new();
    let path = stand.w.root().join("environments/review.yaml");
    let original = std::fs::read_to_string(&path).unwrap();
    let line_of = |text: &str, key: &str| {
        text.lines()
            .position(|l| l.trim_start().starts_with(key))
            .unwrap()
            + 1
    };
    for (from, to, key, says) in [
        (
            "max_lifetime: 14d",
            "max_lifetime: 45d",
            "review.max_lifetime",
            "allowed: 1h to 30d",
        ),
        (
            "max_lifetime: 14d",
            "max_lifetime: a fortnight",
            "review.max_lifetime",
            "not a duration",
        ),
        (
            "warn_before: 24h",
            "warn_before: 20d",
            "review.warn_before",
            "shorter than review.max_lifetime",
        ),
        (
            "warn_before: 24h",
            "warn_ahead: 24h",
            "review.warn_ahead",
            "unknown field",
        ),
    ] {
        assert!(original.contains(from));
        let text = original.replace(from, to);
        std::fs::write(&path, &text).unwrap();
        let line = line_of(&text, to.split(':').next().unwrap());
        stand
            .envctl()
            .args(["profile", "show", "review"])
            .fails()
            .says(&format!("review.yaml:{line}: `{key}`"))
            .says(says);
    }
    // Only the review profile may have the section.
    std::fs::write(&path, &original).unwrap();
    let dev = stand.w.root().join("environments/dev.yaml");
    let text = std::fs::read_to_string(&dev).unwrap() + "\nreview:\n  max_lifetime: 3d\n";
    std::fs::write(&dev, text).unwrap();
    stand
        .envctl()
        .args(["profile", "show", "dev"])
        .fails()
        .says("`review:` only applies to review stacks");
}
