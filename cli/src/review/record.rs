//! What the cloud knows about one review stack: the tags of its CloudFormation marker
//! stack (`envctl-review-pr<N>`), written and read back here.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::name::{PrNumber, ReviewName};

/// Marker stacks are named `envctl-review-pr<N>`: found by PR without a listing.
pub const MARKER_PREFIX: &str = "envctl-review-";

/// Tag keys on the marker stack.
pub mod tag {
    /// Marks (and versions) a review marker stack.
    pub const REVIEW: &str = "envctl:review";
    pub const ENVIRONMENT: &str = "envctl:environment";
    pub const PR: &str = "envctl:pr";
    pub const BRANCH: &str = "envctl:branch";
    pub const OWNER: &str = "envctl:owner";
    pub const CREATED_AT: &str = "envctl:created-at";
    pub const EXPIRES_AT: &str = "envctl:expires-at";
    pub const STATUS: &str = "envctl:status";
    /// Why the last deploy or teardown failed (`-` when it did not).
    pub const LAST_ERROR: &str = "envctl:last-error";
}

/// The value of [`tag::LAST_ERROR`] when there is none.
const NO_ERROR: &str = "-";

/// The value of [`tag::REVIEW`]: the record format version.
pub const FORMAT: &str = "v1";

/// Where a review stack is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `review up` is (or was, if interrupted) deploying it.
    Deploying,
    /// The last `review up` finished.
    Ready,
    /// The last `review up` failed; the stack still exists and still expires.
    Failed,
    /// A teardown started; if it is still listed, the teardown was interrupted.
    Deleting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Deploying => "deploying",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Deleting => "deleting",
        }
    }

    fn parse(text: &str) -> Option<Status> {
        [
            Status::Deploying,
            Status::Ready,
            Status::Failed,
            Status::Deleting,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One review stack as recorded in the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRecord {
    pub pr: PrNumber,
    pub environment: ReviewName,
    pub branch: Option<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: Status,
    pub last_error: Option<String>,
}

impl ReviewRecord {
    /// The marker stack's name for pull request `pr`.
    pub fn marker_name(pr: PrNumber) -> String {
        format!("{MARKER_PREFIX}pr{pr}")
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// The marker stack's tags (values made safe for AWS tag rules).
    pub fn to_tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (tag::REVIEW.to_string(), FORMAT.to_string()),
            (tag::ENVIRONMENT.to_string(), self.environment.to_string()),
            (tag::PR.to_string(), self.pr.to_string()),
            (tag::OWNER.to_string(), tag_value(&self.owner)),
            (tag::CREATED_AT.to_string(), timestamp(self.created_at)),
            (tag::EXPIRES_AT.to_string(), timestamp(self.expires_at)),
            (tag::STATUS.to_string(), self.status.as_str().to_string()),
        ]);
        if let Some(branch) = &self.branch {
            tags.insert(tag::BRANCH.into(), tag_value(branch));
        }
        // Always written ("-" for none): an update then clears an old error everywhere,
        // also where tag updates merge rather than replace.
        let error = self
            .last_error
            .as_deref()
            .map_or_else(|| NO_ERROR.to_string(), tag_value);
        tags.insert(tag::LAST_ERROR.into(), error);
        tags
    }

    /// Reads a marker stack back. Anything missing or malformed is an inconsistency
    /// (returned as a message naming the stack and the tag): `review gc` then deletes nothing.
    pub fn from_tags(
        stack_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ReviewRecord, String> {
        let bad =
            |key: &str, message: String| format!("stack {stack_name}: tag `{key}`: {message}");
        let get = |key: &str| {
            tags.get(key)
                .map(String::as_str)
                .ok_or_else(|| bad(key, "missing".into()))
        };
        let format = get(tag::REVIEW)?;
        if format != FORMAT {
            return Err(bad(
                tag::REVIEW,
                format!("unknown record format `{format}` (this envctl reads `{FORMAT}`; upgrade envctl)"),
            ));
        }
        let pr = PrNumber::parse(get(tag::PR)?).map_err(|e| bad(tag::PR, e.to_string()))?;
        if stack_name != Self::marker_name(pr) {
            return Err(format!(
                "stack {stack_name}: tag `{}` says PR {pr}, but its marker would be named {}",
                tag::PR,
                Self::marker_name(pr)
            ));
        }
        let environment = ReviewName::parse(get(tag::ENVIRONMENT)?, pr)
            .map_err(|e| bad(tag::ENVIRONMENT, e.to_string()))?;
        let time = |key: &str| -> Result<DateTime<Utc>, String> {
            let text = get(key)?;
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| bad(key, format!("`{text}` is not an RFC 3339 time: {e}")))
        };
        let created_at = time(tag::CREATED_AT)?;
        let expires_at = time(tag::EXPIRES_AT)?;
        if expires_at < created_at {
            return Err(bad(
                tag::EXPIRES_AT,
                format!(
                    "expires ({}) before it was created ({})",
                    timestamp(expires_at),
                    timestamp(created_at)
                ),
            ));
        }
        let status_text = get(tag::STATUS)?;
        let status = Status::parse(status_text).ok_or_else(|| {
            bad(
                tag::STATUS,
                format!("`{status_text}` is not one of deploying, ready, failed, deleting"),
            )
        })?;
        let owner = get(tag::OWNER)?.to_string();
        Ok(ReviewRecord {
            pr,
            environment,
            branch: tags.get(tag::BRANCH).cloned(),
            owner,
            created_at,
            expires_at,
            status,
            last_error: tags
                .get(tag::LAST_ERROR)
                .filter(|e| e.as_str() != NO_ERROR)
                .cloned(),
        })
    }
}

/// RFC 3339 in UTC to the second, e.g. `2030-01-02T03:04:05Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A value AWS accepts as a tag: letters, digits, spaces and `_ . : / = + - @`, 1 to 256
/// characters. Anything else (from a branch name or an error message) becomes `_`.
pub fn tag_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ReviewRecord {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        ReviewRecord {
            pr: PrNumber::new(42).unwrap(),
            environment: ReviewName::parse(
                "review-pr42-feature-x-abc123",
                PrNumber::new(42).unwrap(),
            )
            .unwrap(),
            branch: Some("feature/x".into()),
            owner: "dependabot[bot]".into(),
            created_at: t("2030-01-01T00:00:00Z"),
            expires_at: t("2030-01-04T00:00:00Z"),
            status: Status::Ready,
            last_error: None,
        }
    }

    #[test]
    fn tags_round_trip() {
        let r = record();
        let tags = r.to_tags();
        assert_eq!(
            tags[tag::OWNER],
            "dependabot_bot_",
            "brackets are not tag characters"
        );
        let back = ReviewRecord::from_tags("envctl-review-pr42", &tags).unwrap();
        assert_eq!(back.owner, "dependabot_bot_");
        assert_eq!(back.expires_at, r.expires_at);
        assert_eq!(back.status, Status::Ready);
        assert_eq!(back.branch.as_deref(), Some("feature/x"));
        assert_eq!(tags[tag::LAST_ERROR], "-");
        assert_eq!(back.last_error, None);
        let failed = ReviewRecord {
            last_error: Some("terraform apply failed: boom".into()),
            ..r
        };
        let back = ReviewRecord::from_tags("envctl-review-pr42", &failed.to_tags()).unwrap();
        assert_eq!(
            back.last_error.as_deref(),
            Some("terraform apply failed: boom")
        );
    }

    #[test]
    fn malformed_tags_are_inconsistencies_naming_stack_and_tag() {
        let mut tags = record().to_tags();
        tags.insert(tag::EXPIRES_AT.into(), "next tuesday".into());
        let err = ReviewRecord::from_tags("envctl-review-pr42", &tags).unwrap_err();
        assert!(
            err.contains("envctl-review-pr42") && err.contains(tag::EXPIRES_AT),
            "{err}"
        );

        let mut tags = record().to_tags();
        tags.remove(tag::STATUS);
        assert!(ReviewRecord::from_tags("envctl-review-pr42", &tags)
            .unwrap_err()
            .contains("missing"));

        let tags = record().to_tags();
        let err = ReviewRecord::from_tags("envctl-review-pr43", &tags).unwrap_err();
        assert!(err.contains("PR 42"), "{err}");

        let mut tags = record().to_tags();
        tags.insert(tag::ENVIRONMENT.into(), "production".into());
        assert!(ReviewRecord::from_tags("envctl-review-pr42", &tags).is_err());

        let mut tags = record().to_tags();
        tags.insert(tag::CREATED_AT.into(), "2031-01-01T00:00:00Z".into());
        assert!(ReviewRecord::from_tags("envctl-review-pr42", &tags).is_err());

        let mut tags = record().to_tags();
        tags.insert(tag::REVIEW.into(), "v9".into());
        assert!(ReviewRecord::from_tags("envctl-review-pr42", &tags)
            .unwrap_err()
            .contains("upgrade"));
    }

    #[test]
    fn tag_values_are_cleaned_and_capped() {
        assert_eq!(tag_value("a;b`c"), "a_b_c");
        assert_eq!(tag_value("日本語/x"), "日本語/x");
        assert_eq!(tag_value(&"x".repeat(300)).chars().count(), 256);
        assert_eq!(tag_value(""), "_");
    }
}
