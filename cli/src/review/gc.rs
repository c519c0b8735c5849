//! Which review stacks `review gc` tears down, and why: past their expiry, or (given
//! the open pull requests) belonging to a closed one. Pure: decided from a complete,
//! consistent listing only.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::marker::{Listing, Marker};
use super::record::timestamp;
use crate::{Error, Result};

/// Why a review stack is to be torn down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// Its expiry has passed.
    Expired { expires_at: DateTime<Utc> },
    /// Its pull request is not among the open ones.
    PrClosed,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Expired { expires_at } => write!(f, "expired at {}", timestamp(*expires_at)),
            Reason::PrClosed => f.write_str("pull request closed"),
        }
    }
}

/// A stack to tear down and the reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Doomed {
    pub marker: Marker,
    pub reasons: Vec<Reason>,
}

/// Picks the stacks to tear down. Refuses (an error, so nothing is deleted) when the
/// listing had any inconsistency: a half-understood listing must not drive deletions.
pub fn select(
    listing: &Listing,
    now: DateTime<Utc>,
    open_prs: Option<&BTreeSet<u64>>,
) -> Result<Vec<Doomed>> {
    if !listing.problems.is_empty() {
        return Err(Error::Refused {
            message: format!(
                "the review stack listing is inconsistent, so gc deletes nothing:\n  {}",
                listing.problems.join("\n  ")
            ),
            help: Some(
                "fix or remove the stacks named above (see `envctl review list`), then re-run gc"
                    .into(),
            ),
        });
    }
    Ok(listing
        .markers
        .iter()
        .filter_map(|marker| {
            let reasons = reasons(marker, now, open_prs);
            (!reasons.is_empty()).then(|| Doomed {
                marker: marker.clone(),
                reasons,
            })
        })
        .collect())
}

/// Why `marker`'s stack should go (empty: it stays).
pub fn reasons(
    marker: &Marker,
    now: DateTime<Utc>,
    open_prs: Option<&BTreeSet<u64>>,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if marker.record.is_expired(now) {
        reasons.push(Reason::Expired {
            expires_at: marker.record.expires_at,
        });
    }
    if open_prs.is_some_and(|open| !open.contains(&marker.record.pr.get())) {
        reasons.push(Reason::PrClosed);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::name::{PrNumber, ReviewName};
    use crate::review::record::{ReviewRecord, Status};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn marker(pr: u64, expires: &str) -> Marker {
        Marker {
            record: ReviewRecord {
                pr: PrNumber::new(pr).unwrap(),
                environment: ReviewName::new(PrNumber::new(pr).unwrap(), None).unwrap(),
                branch: None,
                owner: "me".into(),
                created_at: t("2030-01-01T00:00:00Z"),
                expires_at: t(expires),
                status: Status::Ready,
                last_error: None,
            },
            stack_name: format!("envctl-review-pr{pr}"),
            stack_status: "CREATE_COMPLETE".into(),
        }
    }

    fn listing() -> Listing {
        Listing {
            markers: vec![
                marker(1, "2030-01-02T00:00:00Z"),
                marker(2, "2030-01-05T00:00:00Z"),
                marker(3, "2030-01-05T00:00:00Z"),
            ],
            problems: vec![],
        }
    }

    #[test]
    fn only_expired_stacks_without_an_open_pr_list() {
        let doomed = select(&listing(), t("2030-01-03T00:00:00Z"), None).unwrap();
        assert_eq!(doomed.len(), 1);
        assert_eq!(doomed[0].marker.record.pr.get(), 1);
        assert!(matches!(doomed[0].reasons[..], [Reason::Expired { .. }]));
    }

    #[test]
    fn expiry_is_inclusive() {
        let doomed = select(&listing(), t("2030-01-02T00:00:00Z"), None).unwrap();
        assert_eq!(doomed.len(), 1);
        assert!(select(&listing(), t("2030-01-01T23:59:59Z"), None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn closed_prs_go_too_when_open_prs_are_given() {
        let open = BTreeSet::from([2]);
        let doomed = select(&listing(), t("2030-01-03T00:00:00Z"), Some(&open)).unwrap();
        let prs: Vec<u64> = doomed.iter().map(|d| d.marker.record.pr.get()).collect();
        assert_eq!(prs, [1, 3]);
        assert_eq!(doomed[0].reasons.len(), 2, "expired and closed");
        assert_eq!(doomed[1].reasons, [Reason::PrClosed]);
    }

    #[test]
    fn any_problem_means_nothing_is_selected() {
        let mut listing = listing();
        listing
            .problems
            .push("stack envctl-review-pr9: tag `envctl:expires-at`: bad".into());
        let err = select(&listing, t("2040-01-01T00:00:00Z"), None).unwrap_err();
        assert!(err.to_string().contains("envctl-review-pr9"), "{err}");
    }
}
