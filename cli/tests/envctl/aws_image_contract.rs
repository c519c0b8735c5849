//! `up` and `review up` read the contract version of the image they deploy (`--image-tag`
//! or the profile's `runtime.image.tag`) from ECR (moto, through the real ECR client) and
//! refuse an image built from another contract — a rollback too far back, an envctl too
//! old, an image nobody stamped — before the state backend, Terraform or the cluster are
//! touched.

use rates_contract::CONTRACT_VERSION;

use crate::support::World;

const NS: &str = "rates-staging";
const SHA: &str = "5d41402abc4b2a76b9719d911017c592ae1b2c3d";

fn world() -> World {
    let w = World::new();
    w.provision_infrastructure("staging");
    w
}

fn up(w: &World, extra: &[&str]) -> crate::support::Envctl {
    let mut cmd = w.envctl();
    cmd.args([
        "up",
        "staging",
        "--yes",
        "--timeout",
        "20s",
        "--image-tag",
        SHA,
    ])
    .args(extra);
    cmd
}

/// Nothing was started: no state backend stack, no terraform init/plan/apply, no object in
/// the cluster.
fn nothing_applied(w: &World) {
    let calls = w.terraform_calls();
    assert!(
        !calls
            .iter()
            .any(|c| ["init", "plan", "apply"].iter().any(|s| c.starts_with(s))),
        "terraform ran: {calls:?}"
    );
    let objects: Vec<_> = w
        .kube
        .keys()
        .into_iter()
        .filter(|(_, ns, _)| ns == NS)
        .collect();
    assert!(objects.is_empty(), "applied to the cluster: {objects:?}");
    let cfn = aws_sdk_cloudformation::Client::new(&w.sdk());
    let stacks =
        w.rt.block_on(cfn.describe_stacks().send())
            .unwrap()
            .stacks
            .unwrap_or_default();
    assert!(
        stacks.is_empty(),
        "the state backend was bootstrapped: {stacks:?}"
    );
}

fn deployed_image(w: &World) -> String {
    let api = w
        .kube
        .get("deployments", NS, "rates-api")
        .expect("the api deployed");
    api["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn an_image_of_this_contract_is_checked_then_deployed() {
    let w = world();
    w.push_image("staging", SHA, Some(&CONTRACT_VERSION.to_string()));
    let run = up(&w, &["--output", "json"]).succeeds();
    let checked = run
        .events()
        .into_iter()
        .find(|e| {
            e["event"] == "step_finished"
                && e["step"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("checking the contract version"))
        })
        .unwrap_or_else(|| panic!("a contract check step: {run}"));
    assert!(
        checked["message"]
            .as_str()
            .unwrap()
            .contains(&format!("contract version {CONTRACT_VERSION}")),
        "{checked}"
    );
    assert!(deployed_image(&w).ends_with(&format!("/rates-staging:{SHA}")));
}

#[test]
fn a_rollback_to_an_image_of_an_older_contract_is_refused_before_anything_is_applied() {
    let w = world();
    let older = (CONTRACT_VERSION - 1).to_string();
    w.push_image("staging", SHA, Some(&older));
    up(&w, &[])
        .fails()
        .says(&format!("image rates-staging:{SHA}"))
        .says(&format!(
            "the image was built with contract version {older}, but this envctl renders the runtime's settings for contract version {CONTRACT_VERSION}"
        ))
        .says("run the envctl of the image's own commit")
        .says(&format!(
            "if you know this image matches, `envctl up staging --image-tag {SHA} --skip-contract-check` deploys it anyway"
        ));
    nothing_applied(&w);
}

#[test]
fn an_image_of_a_newer_contract_asks_for_a_newer_envctl() {
    let w = world();
    w.push_image("staging", SHA, Some(&(CONTRACT_VERSION + 1).to_string()));
    up(&w, &[])
        .fails()
        .says(&format!(
            "built with contract version {}, newer than this envctl's {CONTRACT_VERSION}",
            CONTRACT_VERSION + 1
        ))
        .says("update envctl to the image's commit");
    nothing_applied(&w);
}

#[test]
fn an_unstamped_image_is_refused_unless_the_check_is_skipped() {
    let w = world();
    w.push_image("staging", SHA, None);
    up(&w, &[])
        .fails()
        .says("the image carries no contract version (no `io.envctl.rates.contract-version` annotation)")
        .says("deploy an image built by .github/workflows/image.yml");
    nothing_applied(&w);
    // The user who knows better says so; then it deploys.
    up(&w, &["--skip-contract-check"]).succeeds();
    assert!(deployed_image(&w).ends_with(&format!(":{SHA}")));
}

#[test]
fn a_profile_reverted_to_a_release_of_an_older_contract_is_refused() {
    // The rollback docs/operations.md describes: runtime.image.tag set back in the profile.
    let w = world();
    let older = (CONTRACT_VERSION - 1).to_string();
    w.push_image("staging", "0.0.9", Some(&older));
    w.edit_profile("staging", |doc| {
        doc["runtime"]["image"] = serde_yaml::from_str("{ tag: \"0.0.9\" }").unwrap()
    });
    w.envctl()
        .args(["up", "staging", "--yes", "--timeout", "20s"])
        .fails()
        .says(&format!(
            "image rates-staging:0.0.9: the image was built with contract version {older}"
        ))
        .says("envctl up staging --image-tag 0.0.9 --skip-contract-check");
    nothing_applied(&w);
    w.envctl()
        .args([
            "up",
            "staging",
            "--yes",
            "--timeout",
            "20s",
            "--skip-contract-check",
        ])
        .succeeds();
    assert!(deployed_image(&w).ends_with("/rates-staging:0.0.9"));
}

#[test]
fn a_multi_platform_index_is_read_through_its_image_manifest() {
    // buildx with provenance pushes an index; the version is on the image manifest.
    let w = world();
    w.push_image_index("staging", SHA, Some(&CONTRACT_VERSION.to_string()));
    up(&w, &[]).succeeds();
    assert!(deployed_image(&w).ends_with(&format!(":{SHA}")));

    let w = world();
    w.push_image_index("staging", SHA, None);
    up(&w, &[])
        .fails()
        .says("the image carries no contract version");
    nothing_applied(&w);
}

#[test]
fn a_tag_that_is_not_in_ecr_is_named() {
    let w = world();
    w.push_image(
        "staging",
        "0000000000000000000000000000000000000000",
        Some("1"),
    );
    up(&w, &[])
        .fails()
        .says(&format!("ECR has no image `{SHA}` in `rates-staging`"))
        .says("push it first");
    nothing_applied(&w);
}

#[test]
fn review_up_refuses_an_image_of_another_contract() {
    let w = world();
    let older = (CONTRACT_VERSION - 1).to_string();
    w.push_image("review", SHA, Some(&older));
    let run = w
        .envctl()
        .env("GITHUB_ACTOR", "octo-reviewer")
        .args(["--yes", "review", "up", "--pr", "42", "--image-tag", SHA])
        .fails();
    run.says(&format!("built with contract version {older}"));
    // No way around it for a pull request's image: the help offers none.
    assert!(!run.stderr.contains("--skip-contract-check"), "{run}");
    let calls = w.terraform_calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("apply")),
        "terraform applied: {calls:?}"
    );
}

/// The image build stamps the version under the key envctl reads, from the contract crate:
/// the Dockerfile's label and the workflow's annotations and build argument.
#[test]
fn the_image_build_stamps_the_contract_key_envctl_reads() {
    let key = rates_contract::CONTRACT_VERSION_LABEL;
    let root = crate::support::repo_root();
    let dockerfile = std::fs::read_to_string(root.join("runtime/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("{key}=\"${{RATES_CONTRACT_VERSION}}\"")),
        "runtime/Dockerfile labels the image with {key}"
    );
    let workflow = std::fs::read_to_string(root.join(".github/workflows/image.yml")).unwrap();
    for expected in [
        "cargo run --quiet --locked -p rates-contract --example contract_version".to_string(),
        "RATES_CONTRACT_VERSION=${{ steps.contract.outputs.version }}".to_string(),
        format!("index:{key}=${{{{ steps.contract.outputs.version }}}}"),
        format!("manifest:{key}=${{{{ steps.contract.outputs.version }}}}"),
    ] {
        assert!(
            workflow.contains(&expected),
            ".github/workflows/image.yml: missing `{expected}`"
        );
    }
}
