//! The protection rules, run without a terminal (as in CI): protected environments
//! need `--force-protected ENV` for destroys and `down`; others need `--yes`; nothing
//! is changed when a confirmation is missing. Terraform is the STAND-IN
//! (support/terraform/), Kubernetes the in-test API STAND-IN.

use crate::support::{plan_fixture, says, World};

#[test]
fn protected_down_needs_force_protected_with_the_name_and_yes() {
    let w = World::new();
    w.envctl()
        .args(["down", "production"])
        .assert()
        .code(1)
        .stderr(says("refused"))
        .stderr(says("production is protected"))
        .stderr(says("--yes --force-protected production"));
    // --yes alone is not enough for a protected environment.
    w.envctl()
        .args(["down", "production", "--yes"])
        .assert()
        .code(1)
        .stderr(says("--force-protected production"));
    w.envctl()
        .args(["down", "production", "--force-protected", "production"])
        .assert()
        .code(1)
        .stderr(says("also needs --yes"));
    w.envctl()
        .args([
            "down",
            "production",
            "--yes",
            "--force-protected",
            "staging",
        ])
        .assert()
        .code(1)
        .stderr(says(
            "--force-protected names `staging`, but the environment is `production`",
        ));
    assert!(
        w.terraform_calls().is_empty(),
        "nothing ran: {:?}",
        w.terraform_calls()
    );
}

#[test]
fn unprotected_down_needs_yes_without_a_terminal() {
    let w = World::new();
    w.envctl()
        .args(["down", "staging"])
        .assert()
        .code(1)
        .stderr(says("no terminal to confirm on"))
        .stderr(says("pass --yes"));
    assert!(w.terraform_calls().is_empty());
}

#[test]
fn up_with_changes_needs_yes_without_a_terminal_and_changes_nothing() {
    let w = World::new();
    w.provision_infrastructure("staging");
    w.envctl()
        .args(["up", "staging"])
        .assert()
        .code(1)
        .stderr(says("Apply these changes to staging?"))
        .stderr(says("pass --yes"));
    let calls = w.terraform_calls();
    assert!(calls.iter().any(|c| c.starts_with("plan")), "{calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("apply")),
        "nothing applied: {calls:?}"
    );
}

#[test]
fn protected_destroys_need_force_protected_even_with_yes() {
    // Stand-in: a plan that replaces the database (plan-changes.json); the providers' published schemas carry no ForceNew, so the stubs never plan a replacement.
    let w = World::with_standin();
    w.provision_infrastructure("production");
    w.envctl()
        .args(["up", "production", "--yes"])
        .env("TF_STANDIN_PLAN", plan_fixture("plan-changes.json"))
        .assert()
        .code(1)
        .stderr(says(
            "production is protected and this plan destroys 4 resource(s) (2 replaced)",
        ))
        .stderr(says("--force-protected production"));
    assert!(
        !w.terraform_calls().iter().any(|c| c.starts_with("apply")),
        "nothing applied"
    );

    // A non-destructive change to production goes through with --yes (CI deploys).
    w.envctl()
        .args(["up", "production", "--yes", "--timeout", "20s"])
        .assert()
        .success();
    assert_eq!(
        w.terraform_calls()
            .iter()
            .filter(|c| c.starts_with("apply"))
            .count(),
        1
    );

    // And the destructive one with the name repeated.
    w.envctl()
        .args([
            "up",
            "production",
            "--yes",
            "--force-protected",
            "production",
            "--timeout",
            "20s",
        ])
        .env("TF_STANDIN_PLAN", plan_fixture("plan-changes.json"))
        .assert()
        .success();
    assert_eq!(
        w.terraform_calls()
            .iter()
            .filter(|c| c.starts_with("apply"))
            .count(),
        2
    );
}

#[test]
fn an_environment_pinned_to_another_account_is_refused() {
    let w = World::new();
    w.edit_profile("staging", |doc| {
        doc["aws"]["account_id"] = serde_yaml::Value::from("111111111111");
    });
    w.envctl()
        .args(["up", "staging", "--yes"])
        .assert()
        .code(1)
        .stderr(says(
            "environment `staging` lives in AWS account 111111111111, but the credentials are for account 123456789012",
        ));
    assert!(
        !w.terraform_calls().iter().any(|c| c.starts_with("init")),
        "nothing ran against the wrong account"
    );
}

#[test]
fn on_a_terminal_the_protected_name_must_be_typed() {
    let w = World::new();
    let (code, shown) = w.envctl_on_terminal(&["down", "production"], "prod\n");
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("Type `production` to continue"), "{shown}");
    assert!(
        crate::support::normalize(&shown)
            .contains("you typed `prod`, not `production`; nothing was changed"),
        "{shown}"
    );
    assert!(w.terraform_calls().is_empty());

    // The right name goes on (nothing of production exists here, so down has little to do).
    let (code, shown) = w.envctl_on_terminal(&["down", "production"], "production\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("production is down."), "{shown}");
    assert!(shown.contains("skipped (no state backend"), "{shown}");
}

#[test]
fn on_a_terminal_up_asks_and_shows_live_progress() {
    // Stand-in: a resource that is still creating after 10 s (recorded apply output); the stubs create instantly, so real core never prints "Still creating".
    let w = World::with_standin();
    w.provision_infrastructure("staging");
    let (code, shown) = w.envctl_on_terminal(&["up", "staging", "--timeout", "20s"], "y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Apply these changes to staging?"), "{shown}");
    assert!(
        shown.contains("Plan: 13 to add, 0 to change, 0 to destroy, 11 output(s) changing."),
        "{shown}"
    );
    // Terraform's output streams above the spinner, which names what is waited on.
    assert!(
        shown.contains(
            "  │ module.database.aws_db_instance.primary: Still creating... [10s elapsed]"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("waiting on module.database.aws_db_instance.primary"),
        "{shown}"
    );
    assert!(shown.contains("✓ terraform apply: done"), "{shown}");
    assert!(shown.contains("staging is up to date now."), "{shown}");
}
