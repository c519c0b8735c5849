//! An inclusive range of days, validated once at the edge.

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// `date_from..=date_to`, with `date_from <= date_to` and a bounded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// Parses `date_from` and `date_to` (YYYY-MM-DD); the range may span at
    /// most `max_days` days, both ends included.
    pub fn parse(from: Option<&str>, to: Option<&str>, max_days: u32) -> Result<DateRange> {
        let from = parse_day("date_from", from)?;
        let to = parse_day("date_to", to)?;
        if from > to {
            return Err(Error::invalid(
                "date_from",
                format!("{from} is after date_to {to}"),
            ));
        }
        let range = DateRange { from, to };
        if range.days() > i64::from(max_days) {
            return Err(Error::invalid(
                "date_to",
                format!(
                    "the range {from}..{to} spans {} days; at most {max_days} are allowed",
                    range.days()
                ),
            ));
        }
        Ok(range)
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
}

fn parse_day(parameter: &str, raw: Option<&str>) -> Result<NaiveDate> {
    let raw = raw.ok_or_else(|| Error::invalid(parameter, "is required (YYYY-MM-DD)"))?;
    // Exactly YYYY-MM-DD: chrono alone would also accept e.g. `2016-1-1`.
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(Error::invalid(
            parameter,
            format!("`{raw}` is not a date in YYYY-MM-DD form"),
        ));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|e| Error::invalid(parameter, format!("`{raw}` is not a valid date: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(e: Error) -> String {
        match e {
            Error::InvalidParameter { parameter, .. } => parameter,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn valid_and_invalid_ranges() {
        let r = DateRange::parse(Some("2016-01-01"), Some("2016-01-10"), 366).unwrap();
        assert_eq!(r.days(), 10);
        assert_eq!(
            DateRange::parse(Some("2016-01-01"), Some("2016-01-01"), 1)
                .unwrap()
                .days(),
            1
        );
        assert_eq!(
            param_of(DateRange::parse(None, Some("2016-01-01"), 366).unwrap_err()),
            "date_from"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-01-01"), None, 366).unwrap_err()),
            "date_to"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-1-1"), Some("2016-01-02"), 366).unwrap_err()),
            "date_from"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-02-30"), Some("2016-03-02"), 366).unwrap_err()),
            "date_from"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-01-01"), Some("tomorrow"), 366).unwrap_err()),
            "date_to"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-01-02"), Some("2016-01-01"), 366).unwrap_err()),
            "date_from"
        );
        assert_eq!(
            param_of(DateRange::parse(Some("2016-01-01"), Some("2016-01-11"), 10).unwrap_err()),
            "date_to"
        );
    }
}
