//! The name of a pull request's review environment: `review-pr<N>[-<branch slug>]-<hash>`,
//! a DNS-1123 label short enough for every AWS and Kubernetes name derived from it.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The longest review environment name. Environment names may be 40 characters, but
/// every AWS/Kubernetes name is derived from it with a prefix and a suffix (e.g.
/// `rates-<env>-batches-<account id>` for the bucket, 63; `rates-<env>-<role>` for IAM
/// roles, 64; namespaces, 63), so review names stay well inside that budget.
pub const MAX_LEN: usize = 32;

/// The largest accepted pull request number (8 digits: far beyond any real repository,
/// and it keeps room for a readable branch slug in [`MAX_LEN`]).
pub const MAX_PR: u64 = 99_999_999;

/// Characters of the branch hash: 24 bits, to tell apart branches that sanitise to the
/// same slug within one pull request (the PR number already separates pull requests).
const HASH_LEN: usize = 6;

/// A pull request number, 1..=[`MAX_PR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PrNumber(u64);

impl PrNumber {
    pub fn new(pr: u64) -> Result<PrNumber> {
        if pr == 0 || pr > MAX_PR {
            return Err(Error::InvalidArgument {
                what: "pull request number".into(),
                value: pr.to_string(),
                message: format!("must be between 1 and {MAX_PR}"),
            });
        }
        Ok(PrNumber(pr))
    }

    /// Parses a tag value such as `42`.
    pub fn parse(text: &str) -> Result<PrNumber> {
        let pr = text
            .parse::<u64>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0'))
            .ok_or_else(|| Error::InvalidArgument {
                what: "pull request number".into(),
                value: text.into(),
                message: "not a positive decimal number".into(),
            })?;
        PrNumber::new(pr)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Delegated, so width and alignment (`{:<8}`) apply.
        fmt::Display::fmt(&self.0, f)
    }
}

/// A review environment's name: starts with `review-pr<N>`, lowercase ASCII letters,
/// digits and `-`, at most [`MAX_LEN`] characters, ending in a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ReviewName(String);

impl ReviewName {
    /// The name for pull request `pr`, with a slug of `branch` when given.
    ///
    /// The slug keeps `[a-z0-9]` runs of the branch (after `refs/heads/`), joined by `-`,
    /// cut to fit; the hash is of the branch exactly as given, so two branches never share
    /// a name even when their slugs are equal or empty (`../../x`, `日本語`, 300 characters).
    pub fn new(pr: PrNumber, branch: Option<&str>) -> Result<ReviewName> {
        let base = format!("review-pr{pr}");
        let Some(branch) = branch else {
            return Ok(ReviewName(base));
        };
        if branch.trim().is_empty() {
            return Err(Error::InvalidArgument {
                what: "branch name".into(),
                value: branch.into(),
                message: "is empty; pass the pull request's head branch or leave --branch out"
                    .into(),
            });
        }
        let hash = hex::encode(Sha256::digest(branch.as_bytes()));
        let hash = &hash[..HASH_LEN];
        let room = MAX_LEN - base.len() - HASH_LEN - 2;
        let slug = slug(branch.strip_prefix("refs/heads/").unwrap_or(branch), room);
        let name = if slug.is_empty() {
            format!("{base}-{hash}")
        } else {
            format!("{base}-{slug}-{hash}")
        };
        debug_assert!(name.len() <= MAX_LEN);
        Ok(ReviewName(name))
    }

    /// Checks a name read back from the cloud (a marker's tag) for pull request `pr`.
    pub fn parse(text: &str, pr: PrNumber) -> Result<ReviewName> {
        let invalid = |message: &str| Error::InvalidArgument {
            what: "review environment name".into(),
            value: text.into(),
            message: message.into(),
        };
        let base = format!("review-pr{pr}");
        if text.len() > MAX_LEN {
            return Err(invalid(&format!("longer than {MAX_LEN} characters")));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || text.ends_with('-')
            || text.contains("--")
        {
            return Err(invalid(
                "not a DNS-1123 label of lowercase letters, digits and single `-`",
            ));
        }
        if text != base && !text.starts_with(&format!("{base}-")) {
            return Err(invalid(&format!("does not start with `{base}`")));
        }
        Ok(ReviewName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReviewName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// `[a-z0-9]` runs of `text` (ASCII letters lowercased, everything else a separator),
/// joined by single `-`, at most `max` characters, never ending in `-`.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(max);
    let mut pending_dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                if out.len() + 2 > max {
                    break;
                }
                out.push('-');
            }
            if out.len() + 1 > max {
                break;
            }
            out.push(c.to_ascii_lowercase());
            pending_dash = false;
        } else {
            pending_dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(pr: u64, branch: Option<&str>) -> String {
        ReviewName::new(PrNumber::new(pr).unwrap(), branch)
            .unwrap()
            .to_string()
    }

    fn assert_dns_label(name: &str) {
        assert!(name.len() <= MAX_LEN, "{name} is {} chars", name.len());
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
        assert!(name.as_bytes()[0].is_ascii_lowercase(), "{name}");
        assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
    }

    #[test]
    fn plain_branch_becomes_a_readable_slug_with_a_hash() {
        let n = name(42, Some("feature/Add-Rates"));
        assert!(n.starts_with("review-pr42-feature-add-"), "{n}");
        assert_dns_label(&n);
        assert_eq!(n, name(42, Some("feature/Add-Rates")), "deterministic");
    }

    #[test]
    fn names_and_numbers_pad_in_tables() {
        let pr = PrNumber::new(7).unwrap();
        assert_eq!(format!("{pr:<4}|"), "7   |");
        assert_eq!(
            format!("{:<12}|", ReviewName::new(pr, None).unwrap()),
            "review-pr7  |"
        );
    }

    #[test]
    fn without_a_branch_the_name_is_the_pr_alone() {
        assert_eq!(name(7, None), "review-pr7");
    }

    #[test]
    fn refs_heads_prefix_is_dropped_from_the_slug() {
        let n = name(3, Some("refs/heads/fix-it"));
        assert!(n.starts_with("review-pr3-fix-it-"), "{n}");
    }

    #[test]
    fn path_traversal_is_only_a_slug() {
        let n = name(5, Some("../../x"));
        assert!(n.starts_with("review-pr5-x-"), "{n}");
        assert_dns_label(&n);
    }

    #[test]
    fn unicode_and_symbols_never_reach_the_name() {
        for branch in [
            "日本語",
            "émoji-🚀-ß",
            "a b\tc\n",
            "$(rm -rf /)",
            "x;`id`",
            "-",
            "___",
        ] {
            let n = name(9, Some(branch));
            assert_dns_label(&n);
        }
        // Nothing ASCII-alphanumeric left: the hash alone follows the PR number.
        let n = name(9, Some("日本語"));
        assert_eq!(n.len(), "review-pr9-".len() + HASH_LEN, "{n}");
    }

    #[test]
    fn long_branches_are_cut_to_fit_with_the_largest_pr() {
        let long = "a".repeat(300);
        let n = name(MAX_PR, Some(&long));
        assert_dns_label(&n);
        assert_eq!(n.len(), MAX_LEN);
        let dashed = "ab-".repeat(100);
        assert_dns_label(&name(MAX_PR, Some(&dashed)));
        assert_dns_label(&name(1, Some(&dashed)));
    }

    #[test]
    fn branches_with_equal_slugs_get_different_names() {
        let a = name(11, Some("feature/x"));
        let b = name(11, Some("feature-x"));
        let c = name(11, Some("Feature/X"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        let long_a = format!("{}-one", "z".repeat(300));
        let long_b = format!("{}-two", "z".repeat(300));
        assert_ne!(name(11, Some(&long_a)), name(11, Some(&long_b)));
    }

    #[test]
    fn different_prs_never_collide() {
        assert_ne!(name(1, Some("x")), name(11, Some("x")));
        assert_ne!(name(1, Some("1-x")), name(11, Some("x")));
    }

    #[test]
    fn empty_branch_and_bad_pr_numbers_are_refused() {
        let pr = PrNumber::new(1).unwrap();
        assert!(ReviewName::new(pr, Some("")).is_err());
        assert!(ReviewName::new(pr, Some("   ")).is_err());
        assert!(PrNumber::new(0).is_err());
        assert!(PrNumber::new(MAX_PR + 1).is_err());
        assert!(PrNumber::parse("042").is_err());
        assert!(PrNumber::parse("+42").is_err());
        assert!(PrNumber::parse("").is_err());
        assert_eq!(PrNumber::parse("42").unwrap().get(), 42);
    }

    #[test]
    fn names_read_back_from_the_cloud_are_checked() {
        let pr = PrNumber::new(42).unwrap();
        let made = ReviewName::new(pr, Some("feature/x")).unwrap();
        assert_eq!(ReviewName::parse(made.as_str(), pr).unwrap(), made);
        assert!(ReviewName::parse("review-pr42", pr).is_ok());
        assert!(
            ReviewName::parse("review-pr421-x", pr).is_err(),
            "another PR"
        );
        assert!(ReviewName::parse("review-pr43-x", pr).is_err());
        assert!(ReviewName::parse("Review-pr42-x", pr).is_err());
        assert!(ReviewName::parse("review-pr42-", pr).is_err());
        assert!(ReviewName::parse(&format!("review-pr42-{}", "a".repeat(40)), pr).is_err());
    }
}
