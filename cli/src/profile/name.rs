//! `EnvironmentName`: the validated name of an environment (a DNS-1123 label of at most
//! 40 characters), safe to use in AWS resource names, Kubernetes names and labels.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest environment name: `rates-` + name + the longest suffix envctl appends must fit
/// the tightest AWS limit (IAM role names, 64 characters).
pub const MAX_LEN: usize = 40;

/// A DNS-1123 label of at most [`MAX_LEN`] characters: lowercase letters, digits and `-`,
/// starting with a letter and not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentName(String);

impl EnvironmentName {
    /// Checks `name` and wraps it.
    pub fn parse(name: &str) -> Result<EnvironmentName> {
        match problem(name) {
            None => Ok(EnvironmentName(name.to_string())),
            Some(message) => Err(Error::InvalidArgument {
                what: "environment name".into(),
                value: name.to_string(),
                message,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is wrong with `name`, if anything.
fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > MAX_LEN {
        return Some(format!(
            "it has {} characters; at most {MAX_LEN} are allowed",
            name.len()
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("it must start with a lowercase letter (a-z)".into());
    }
    if name.ends_with('-') {
        return Some("it must not end with `-`".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "`{bad}` is not allowed; use lowercase letters, digits and `-`"
        ));
    }
    None
}

impl TryFrom<String> for EnvironmentName {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<Self, String> {
        match problem(&value) {
            None => Ok(EnvironmentName(value)),
            Some(message) => Err(format!(
                "`{value}` is not a valid environment name: {message}"
            )),
        }
    }
}

impl From<EnvironmentName> for String {
    fn from(value: EnvironmentName) -> String {
        value.0
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EnvironmentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["dev", "staging", "review-pr42-feature-x-1a2b3c", "a1"] {
            assert_eq!(EnvironmentName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_what_aws_and_kubernetes_would() {
        for bad in ["", "Prod", "1dev", "dev-", "dev_x", "dév", &"a".repeat(41)] {
            assert!(
                EnvironmentName::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
