//! `envctl bootstrap` against the moto server through the real CloudFormation client:
//! the state backend stack is created once, and a second run changes nothing.

use crate::support::{says, World};
use aws_sdk_cloudformation::types::StackStatus;
use predicates::str::contains;

const STACK: &str = "envctl-state-backend";

fn stack(w: &World) -> aws_sdk_cloudformation::types::Stack {
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk());
    w.rt.block_on(cfn.describe_stacks().stack_name(STACK).send())
        .expect("the stack exists")
        .stacks
        .unwrap()
        .remove(0)
}

#[test]
fn bootstrap_creates_the_stack_once_then_is_a_no_op() {
    let w = World::new();
    w.envctl()
        .args(["bootstrap", "staging"])
        .assert()
        .success()
        .stdout(contains("State backend created."))
        .stdout(contains("envctl-tfstate-123456789012-eu-west-1"))
        .stdout(contains("envctl-tfstate-locks-eu-west-1"));
    let created = stack(&w);
    assert_eq!(created.stack_status(), Some(&StackStatus::CreateComplete));
    assert_eq!(created.enable_termination_protection(), Some(true));
    let outputs: Vec<_> = created
        .outputs()
        .iter()
        .filter_map(|o| o.output_key())
        .collect();
    assert_eq!(outputs, ["StateBucketName", "LockTableName"]);

    w.envctl()
        .args(["bootstrap", "staging"])
        .assert()
        .success()
        .stdout(contains("already up to date; nothing changed"));
    let after = stack(&w);
    assert_eq!(
        after.stack_status(),
        Some(&StackStatus::CreateComplete),
        "no update was made"
    );
    assert!(after.last_updated_time().is_none(), "no update was made");
    assert_eq!(after.stack_id(), created.stack_id(), "the same stack");

    let out = w
        .envctl()
        .args(["bootstrap", "staging", "--output", "json"])
        .succeeds();
    let result = &out.result();
    assert_eq!(result["state_backend"]["change"], "unchanged");
    assert_eq!(
        result["state_backend"]["bucket"],
        "envctl-tfstate-123456789012-eu-west-1"
    );
}

#[test]
fn bootstrap_updates_a_stack_with_an_older_template() {
    let w = World::new();
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk());
    let current = std::fs::read_to_string(
        crate::support::repo_root().join("cli/bootstrap/state-backend.yaml"),
    )
    .unwrap();
    // An earlier template: no lifecycle rule on the state bucket.
    let older = current.replace(
        "      LifecycleConfiguration:\n        Rules:\n          - Id: expire-old-state-versions\n            Status: Enabled\n            NoncurrentVersionExpiration:\n              NoncurrentDays: 90\n            AbortIncompleteMultipartUpload:\n              DaysAfterInitiation: 7\n",
        "",
    );
    assert_ne!(older, current, "the test edits the template");
    w.rt.block_on(
        cfn.create_stack()
            .stack_name(STACK)
            .template_body(older)
            .send(),
    )
    .unwrap();

    w.envctl()
        .args(["bootstrap", "staging"])
        .assert()
        .success()
        .stdout(contains("State backend updated."));
    assert_eq!(stack(&w).stack_status(), Some(&StackStatus::UpdateComplete));
    let deployed =
        w.rt.block_on(cfn.get_template().stack_name(STACK).send())
            .unwrap()
            .template_body
            .unwrap();
    assert_eq!(deployed.trim(), current.trim());
}

#[test]
fn bootstrap_refuses_the_local_target() {
    let w = World::new();
    w.envctl()
        .args(["bootstrap", "local"])
        .assert()
        .failure()
        .stderr(says("target: local"));
}

#[test]
fn region_flag_overrides_the_profile_region() {
    let w = World::new();
    w.envctl()
        .args(["bootstrap", "staging", "--region", "us-west-2"])
        .assert()
        .success()
        .stdout(contains("envctl-tfstate-123456789012-us-west-2"))
        .stdout(contains("region:     us-west-2"));
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk());
    let in_profile_region =
        w.rt.block_on(cfn.describe_stacks().stack_name(STACK).send());
    assert!(
        in_profile_region.is_err(),
        "nothing was created in the profile's region (eu-west-1)"
    );
}
