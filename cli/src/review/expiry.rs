//! A review stack's lifetime limits: its expiry moves (pushes, `review extend`), its hard
//! maximum (creation + the review profile's `review.max_lifetime`) never does. Also the
//! warning comment posted `review.warn_before` its expiry, found again by a hidden marker
//! that names the stack and the expiry, so each expiry is warned about once.

use chrono::{DateTime, TimeDelta, Utc};

use super::record::{timestamp, ReviewRecord};
use crate::profile::ReviewSettings;
use crate::{Error, Result};

/// When `record`'s stack reaches the review profile's maximum lifetime.
pub fn maximum(record: &ReviewRecord, settings: &ReviewSettings) -> DateTime<Utc> {
    record.created_at + delta(settings.max_lifetime.0)
}

fn delta(d: std::time::Duration) -> TimeDelta {
    // Profile validation keeps lifetimes within a month; saturate rather than panic.
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Where `extend --by` moves the expiry: `by` past the current expiry, or past now for a
/// stack already expired. Refused past the hard maximum, naming it.
pub fn extended(
    record: &ReviewRecord,
    settings: &ReviewSettings,
    now: DateTime<Utc>,
    by: std::time::Duration,
) -> Result<DateTime<Utc>> {
    if by.is_zero() {
        return Err(Error::InvalidArgument {
            what: "--by".into(),
            value: "0s".into(),
            message: "must be longer than zero".into(),
        });
    }
    let from = record.expires_at.max(now);
    let wanted = from + delta(by);
    let max = maximum(record, settings);
    if wanted > max {
        let room = (max - from).to_std().unwrap_or_default();
        let room = humantime::format_duration(std::time::Duration::from_secs(room.as_secs()));
        return Err(Error::Refused {
            message: format!(
                "review stack {} of PR {} cannot be extended to {}: review stacks live at most {} \
                 (review.max_lifetime in environments/review.yaml), so this one must go by {} \
                 (created {})",
                record.environment,
                record.pr,
                timestamp(wanted),
                settings.max_lifetime,
                timestamp(max),
                timestamp(record.created_at),
            ),
            help: Some(if max > from {
                format!(
                    "extend it by at most {room}, or tear it down and push again for a new stack"
                )
            } else {
                "it is at its maximum already; tear it down and push again for a new stack".into()
            }),
        });
    }
    Ok(wanted)
}

/// The expiry `review up` gives a stack: `now + ttl`, capped at the stack's maximum.
/// `None` when the maximum has already passed (the stack is due for gc).
pub fn capped_expiry(
    record_created_at: DateTime<Utc>,
    settings: &ReviewSettings,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Option<DateTime<Utc>> {
    let max = record_created_at + delta(settings.max_lifetime.0);
    (max > now).then(|| (now + delta(ttl)).min(max))
}

/// Whether `record`'s stack is in its warning window: expiring within `warn_before`,
/// not expired yet.
pub fn due_for_warning(
    record: &ReviewRecord,
    settings: &ReviewSettings,
    now: DateTime<Utc>,
) -> bool {
    now < record.expires_at && record.expires_at - delta(settings.warn_before.0) <= now
}

/// The hidden first line of a warning comment: one per stack and expiry.
pub fn warning_marker(record: &ReviewRecord) -> String {
    format!(
        "<!-- envctl-review-expiry-warning environment={} expires-at={} -->",
        record.environment,
        timestamp(record.expires_at)
    )
}

/// The label the review workflow turns into `review extend` (see .github/workflows/review.yml).
pub const EXTEND_LABEL: &str = "review-extend";
/// How far the label extends a stack.
pub const LABEL_EXTENDS_BY: &str = "2d";

/// The warning comment (Markdown): when the stack goes, and how to keep it.
pub fn warning_comment(
    record: &ReviewRecord,
    settings: &ReviewSettings,
    now: DateTime<Utc>,
) -> String {
    let max = maximum(record, settings);
    let left = (record.expires_at - now).num_minutes().max(0);
    let left = if left >= 120 {
        format!("about {} hours", (left + 30) / 60)
    } else {
        format!("{left} minutes")
    };
    let pr = record.pr;
    let keep = if record.expires_at >= max {
        format!(
            "It is at its maximum lifetime ({}, `review.max_lifetime`): it cannot be extended. \
             After it is gone, the next push to this pull request deploys a new stack.",
            settings.max_lifetime
        )
    } else {
        format!(
            "To keep it longer:\n\n\
             - add the label `{EXTEND_LABEL}` to this pull request (extends it by {LABEL_EXTENDS_BY}), or\n\
             - push a new commit (each push sets a new expiry), or\n\
             - run `envctl review extend --pr {pr} --by 2d`.\n\n\
             No extension goes past **{}**, {} after the stack was created (`review.max_lifetime`).",
            timestamp(max),
            settings.max_lifetime
        )
    };
    format!(
        "{marker}\n### Review stack `{env}` expires in {left}\n\n\
         It expires at **{expires}**. From then on `envctl review gc` removes it as soon as this \
         pull request is no longer open; while it stays open the stack is kept until {max} at the \
         latest.\n\n{keep}\n",
        marker = warning_marker(record),
        env = record.environment,
        expires = timestamp(record.expires_at),
        max = timestamp(max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Span;
    use crate::review::name::{PrNumber, ReviewName};
    use crate::review::record::Status;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn record(expires: &str) -> ReviewRecord {
        let pr = PrNumber::new(42).unwrap();
        ReviewRecord {
            pr,
            environment: ReviewName::new(pr, Some("feature/x")).unwrap(),
            branch: None,
            owner: "me".into(),
            created_at: t("2030-01-01T00:00:00Z"),
            expires_at: t(expires),
            status: Status::Ready,
            last_error: None,
        }
    }

    fn settings() -> ReviewSettings {
        ReviewSettings {
            max_lifetime: Span::hours(7 * 24),
            warn_before: Span::hours(24),
        }
    }

    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

    #[test]
    fn extend_moves_the_expiry_up_to_the_maximum_and_no_further() {
        let r = record("2030-01-04T00:00:00Z");
        let now = t("2030-01-03T00:00:00Z");
        assert_eq!(
            extended(&r, &settings(), now, 2 * DAY).unwrap(),
            t("2030-01-06T00:00:00Z")
        );
        assert_eq!(
            extended(&r, &settings(), now, 4 * DAY).unwrap(),
            t("2030-01-08T00:00:00Z"),
            "exactly the maximum is allowed"
        );
        let err = extended(
            &r,
            &settings(),
            now,
            4 * DAY + std::time::Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("7days") && err.contains("2030-01-08T00:00:00Z"),
            "{err}"
        );
        assert!(err.contains("review.max_lifetime"), "{err}");
    }

    #[test]
    fn an_expired_stack_is_extended_from_now() {
        let r = record("2030-01-02T00:00:00Z");
        let now = t("2030-01-03T00:00:00Z");
        assert_eq!(
            extended(&r, &settings(), now, DAY).unwrap(),
            t("2030-01-04T00:00:00Z")
        );
        assert!(extended(&r, &settings(), now, std::time::Duration::ZERO).is_err());
    }

    #[test]
    fn up_caps_the_expiry_at_the_maximum() {
        let created = t("2030-01-01T00:00:00Z");
        let s = settings();
        assert_eq!(
            capped_expiry(created, &s, t("2030-01-02T00:00:00Z"), 3 * DAY),
            Some(t("2030-01-05T00:00:00Z"))
        );
        assert_eq!(
            capped_expiry(created, &s, t("2030-01-06T00:00:00Z"), 3 * DAY),
            Some(t("2030-01-08T00:00:00Z"))
        );
        assert_eq!(
            capped_expiry(created, &s, t("2030-01-08T00:00:00Z"), DAY),
            None
        );
    }

    #[test]
    fn the_warning_window_is_the_last_warn_before_until_expiry() {
        let r = record("2030-01-04T00:00:00Z");
        let s = settings();
        assert!(!due_for_warning(&r, &s, t("2030-01-02T23:59:59Z")));
        assert!(due_for_warning(&r, &s, t("2030-01-03T00:00:00Z")));
        assert!(due_for_warning(&r, &s, t("2030-01-03T23:59:59Z")));
        assert!(!due_for_warning(&r, &s, t("2030-01-04T00:00:00Z")));
    }

    #[test]
    fn the_warning_names_the_expiry_the_maximum_and_how_to_keep_it() {
        let r = record("2030-01-04T00:00:00Z");
        let body = warning_comment(&r, &settings(), t("2030-01-03T01:00:00Z"));
        assert!(body.starts_with(&warning_marker(&r)));
        assert!(body.contains("about 23 hours"), "{body}");
        assert!(body.contains("2030-01-04T00:00:00Z"));
        assert!(body.contains("2030-01-08T00:00:00Z"));
        assert!(body.contains(EXTEND_LABEL));
        assert!(body.contains("envctl review extend --pr 42 --by 2d"));
        let at_max = record("2030-01-08T00:00:00Z");
        let body = warning_comment(&at_max, &settings(), t("2030-01-07T12:00:00Z"));
        assert!(body.contains("cannot be extended"), "{body}");
        assert_ne!(warning_marker(&r), warning_marker(&at_max));
    }
}
