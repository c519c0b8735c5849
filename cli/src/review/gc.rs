//! Which review stacks `review gc` tears down, and why: past the review profile's
//! maximum lifetime; of a closed pull request; past their expiry when the pull request's
//! state is unknown. A stack whose pull request is open is kept (and the report says so)
//! until its maximum lifetime. Pure: decided from a complete, consistent listing only.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::expiry;
use super::marker::{Listing, Marker};
use super::record::timestamp;
use crate::profile::ReviewSettings;
use crate::{Error, Result};

/// Why a review stack is to be torn down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// Its expiry has passed.
    Expired { expires_at: DateTime<Utc> },
    /// Its pull request is not among the open ones.
    PrClosed,
    /// It has lived the review profile's maximum lifetime (open pull request or not).
    PastMaximum { maximum: DateTime<Utc> },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Expired { expires_at } => write!(f, "expired at {}", timestamp(*expires_at)),
            Reason::PrClosed => f.write_str("pull request closed"),
            Reason::PastMaximum { maximum } => write!(
                f,
                "past its maximum lifetime (review.max_lifetime) at {}",
                timestamp(*maximum)
            ),
        }
    }
}

/// A stack to tear down and the reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Doomed {
    pub marker: Marker,
    pub reasons: Vec<Reason>,
}

/// An expired stack left alone because its pull request is open.
#[derive(Debug, Clone, Serialize)]
pub struct KeptOpen {
    pub marker: Marker,
    /// When it will go anyway (its maximum lifetime), unless the pull request closes first.
    pub until: DateTime<Utc>,
}

/// What gc decided: the stacks to tear down, and the expired ones kept for an open PR.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub doomed: Vec<Doomed>,
    pub kept_open: Vec<KeptOpen>,
}

/// Picks the stacks to tear down. Refuses (an error, so nothing is deleted) when the
/// listing had any inconsistency: a half-understood listing must not drive deletions.
pub fn select(
    listing: &Listing,
    now: DateTime<Utc>,
    open_prs: Option<&BTreeSet<u64>>,
    settings: &ReviewSettings,
) -> Result<Selection> {
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
    let mut selection = Selection::default();
    for marker in &listing.markers {
        let reasons = reasons(marker, now, open_prs, settings);
        if !reasons.is_empty() {
            selection.doomed.push(Doomed {
                marker: marker.clone(),
                reasons,
            });
        } else if marker.record.is_expired(now) {
            selection.kept_open.push(KeptOpen {
                marker: marker.clone(),
                until: expiry::maximum(&marker.record, settings),
            });
        }
    }
    Ok(selection)
}

/// Why `marker`'s stack should go (empty: it stays). `open_prs` is `None` when the pull
/// requests' states are unknown: then the expiry alone decides.
pub fn reasons(
    marker: &Marker,
    now: DateTime<Utc>,
    open_prs: Option<&BTreeSet<u64>>,
    settings: &ReviewSettings,
) -> Vec<Reason> {
    let pr_open = open_prs.map(|open| open.contains(&marker.record.pr.get()));
    let mut reasons = Vec::new();
    // An open pull request keeps its stack past the expiry, but not past the maximum.
    if marker.record.is_expired(now) && pr_open != Some(true) {
        reasons.push(Reason::Expired {
            expires_at: marker.record.expires_at,
        });
    }
    if pr_open == Some(false) {
        reasons.push(Reason::PrClosed);
    }
    let maximum = expiry::maximum(&marker.record, settings);
    if now >= maximum {
        reasons.push(Reason::PastMaximum { maximum });
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

    fn settings() -> ReviewSettings {
        ReviewSettings {
            max_lifetime: crate::profile::Span::hours(10 * 24),
            warn_before: crate::profile::Span::hours(24),
        }
    }

    fn select(
        listing: &Listing,
        now: DateTime<Utc>,
        open: Option<&BTreeSet<u64>>,
    ) -> Result<Vec<Doomed>> {
        super::select(listing, now, open, &settings()).map(|s| s.doomed)
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
    fn an_open_prs_stack_stays_past_its_expiry_until_the_maximum() {
        let open = BTreeSet::from([1, 2]);
        let all = super::select(
            &listing(),
            t("2030-01-03T00:00:00Z"),
            Some(&open),
            &settings(),
        )
        .unwrap();
        let prs: Vec<u64> = all
            .doomed
            .iter()
            .map(|d| d.marker.record.pr.get())
            .collect();
        assert_eq!(prs, [3], "only the closed PR's stack goes");
        assert_eq!(all.kept_open.len(), 1);
        assert_eq!(all.kept_open[0].marker.record.pr.get(), 1);
        assert_eq!(all.kept_open[0].until, t("2030-01-11T00:00:00Z"));

        // Created 2030-01-01 with a 10-day maximum: gone at 2030-01-11 however open.
        let doomed = select(&listing(), t("2030-01-11T00:00:00Z"), Some(&open)).unwrap();
        let prs: Vec<u64> = doomed.iter().map(|d| d.marker.record.pr.get()).collect();
        assert_eq!(prs, [1, 2, 3]);
        assert_eq!(
            doomed[0].reasons,
            [Reason::PastMaximum {
                maximum: t("2030-01-11T00:00:00Z")
            }]
        );
        assert!(select(&listing(), t("2030-01-10T23:59:59Z"), Some(&open))
            .unwrap()
            .iter()
            .all(|d| d.marker.record.pr.get() == 3));
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
