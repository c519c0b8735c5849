//! The review profile's `review:` section: how long a review stack may live at most,
//! however often it is extended, and how long before its expiry the pull request is warned.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span written the way people write it in YAML: `24h`, `2d`, `14days`, `90m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub const fn hours(h: u64) -> Span {
        Span(Duration::from_secs(h * 60 * 60))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Span)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration ({e}); write e.g. `24h`, `2d`, `14d`"
                ))
            })
    }
}

/// `review:` (only in environments/review.yaml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// The hard maximum lifetime of a review stack, counted from its creation: no
    /// `review extend` (or push) moves its expiry past it, and `review gc` tears the stack
    /// down once it has passed even while its pull request is open.
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: Span,
    /// How long before a stack's expiry `review warn` comments on its pull request.
    #[serde(default = "default_warn_before")]
    pub warn_before: Span,
}

fn default_max_lifetime() -> Span {
    Span::hours(14 * 24)
}

fn default_warn_before() -> Span {
    Span::hours(24)
}

impl Default for ReviewSettings {
    fn default() -> ReviewSettings {
        ReviewSettings {
            max_lifetime: default_max_lifetime(),
            warn_before: default_warn_before(),
        }
    }
}
