//! Query and path parameters several routes share, parsed once here: list limits and ids.

use uuid::Uuid;

use crate::error::{Error, Result};

/// The most items one list returns.
const MAX_LIMIT: i64 = 500;
/// Items a list returns when `limit` is not given.
const DEFAULT_LIMIT: i64 = 50;

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent or empty.
pub(super) fn limit(raw: Option<&str>) -> Result<i64> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Error::invalid(
                "limit",
                format!("`{raw}` is not a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// A path id; `what` names it in the error (`batch`, `event`).
pub(super) fn id(raw: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(raw)
        .map_err(|_| Error::invalid("id", format!("`{raw}` is not a {what} id (a UUID)")))
}
