//! Review stack names against what is rendered from them: the longest name envctl can
//! give a review stack renders, and every AWS/Kubernetes name derived from it fits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use envctl::profile::{EnvironmentName, Profile};
use envctl::review::name::{MAX_LEN, MAX_PR};
use envctl::review::{PrNumber, ReviewName};

#[test]
fn the_longest_review_name_renders_and_every_derived_name_fits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let longest =
        ReviewName::new(PrNumber::new(MAX_PR).unwrap(), Some(&"feature/".repeat(40))).unwrap();
    assert_eq!(longest.as_str().len(), MAX_LEN);

    let profile = Profile::load(root, "review").unwrap().instance(
        EnvironmentName::parse(longest.as_str()).unwrap(),
        BTreeMap::new(),
    );
    assert!(
        profile.namespace().len() <= 63,
        "namespace {}",
        profile.namespace()
    );
    assert!(
        profile.cluster_name().len() <= 100,
        "cluster {}",
        profile.cluster_name()
    );
    // IAM roles (64) and buckets (63) are the prefix plus a suffix: leave room for one.
    assert!(
        profile.resource_prefix().len() <= 40,
        "{}",
        profile.resource_prefix()
    );

    let rendered = envctl::render::render(root, &profile).expect("the longest review name renders");
    // Every name-like token carrying the environment's prefix fits the tightest common
    // limit (63: S3 buckets, Kubernetes names, and everything looser).
    let prefix = profile.resource_prefix();
    let mut too_long = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (path, content) in &rendered.files {
        for token in content
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        {
            if token.contains(&prefix) {
                seen.insert(token.to_string());
            }
            if token.contains(&prefix) && token.len() > 63 {
                too_long.insert(format!("{}: {token} ({})", path.display(), token.len()));
            }
        }
    }
    assert!(
        seen.len() >= 5,
        "the environment's names appear in the rendered files: {seen:?}"
    );
    assert!(
        too_long.is_empty(),
        "names over 63 characters:\n{}",
        too_long.into_iter().collect::<Vec<_>>().join("\n")
    );
}
