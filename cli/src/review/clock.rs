//! The current time for review stacks (expiry, age), overridable for tests.

use chrono::{DateTime, Utc};

use crate::{Error, Result};

/// For tests only (debug builds): an RFC 3339 time to use as "now" instead of the
/// system clock, so expiry can be tested without waiting (e.g. `2030-01-01T00:00:00Z`).
pub const NOW_ENV: &str = crate::test_hooks::NOW;

/// The current time: `ENVCTL_NOW` when set in a debug build (tests), else the system clock.
pub fn now() -> Result<DateTime<Utc>> {
    match crate::test_hooks::var(NOW_ENV) {
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::InvalidArgument {
                what: NOW_ENV.into(),
                value: text,
                message: format!("not an RFC 3339 time: {e}"),
            }),
        None => Ok(Utc::now()),
    }
}
