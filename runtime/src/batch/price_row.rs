//! One price row of a batch, parsed once at the edge: `PriceRow::parse` turns the
//! four raw fields into typed values or says which column is wrong and why.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::PortCode;

/// The columns of a batch row, in CSV order.
pub const COLUMNS: [&str; 4] = ["orig_code", "dest_code", "day", "price"];

/// A valid row: two well-formed port codes, a calendar day and a positive price.
/// Whether the ports exist is checked set-wise by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    pub orig_code: PortCode,
    pub dest_code: PortCode,
    pub day: NaiveDate,
    pub price: i32,
}

/// Why one row (or one field of it) is not acceptable. `line` is 1-based in the
/// payload; `column` names the field (`orig_code`, ...) or the row-level problem
/// (`row`, `header`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// The longest value quoted back in an error, so one huge field cannot bloat a
/// batch record.
const MAX_QUOTED: usize = 120;

impl RowError {
    pub fn new(
        line: u64,
        column: impl Into<String>,
        value: &str,
        reason: impl Into<String>,
    ) -> RowError {
        let value = if value.len() > MAX_QUOTED {
            let mut end = MAX_QUOTED;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &value[..end])
        } else {
            value.to_string()
        };
        RowError {
            line,
            column: column.into(),
            value,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, {}: {} (value `{}`)",
            self.line, self.column, self.reason, self.value
        )
    }
}

/// The raw text of a price field, as it came: CSV gives text, NDJSON a JSON
/// number (or something else, which is an error).
#[derive(Debug, Clone, Copy)]
pub enum RawPrice<'a> {
    Text(&'a str),
    Json(&'a serde_json::Value),
}

impl PriceRow {
    /// Parses the fields of the row at `line`. Reports the first wrong field.
    pub fn parse(
        line: u64,
        orig_code: &str,
        dest_code: &str,
        day: &str,
        price: RawPrice<'_>,
    ) -> Result<PriceRow, RowError> {
        let orig = PortCode::parse(orig_code)
            .map_err(|reason| RowError::new(line, "orig_code", orig_code, reason.to_string()))?;
        let dest = PortCode::parse(dest_code)
            .map_err(|reason| RowError::new(line, "dest_code", dest_code, reason.to_string()))?;
        let day = parse_day(day).map_err(|reason| RowError::new(line, "day", day, reason))?;
        let price = match price {
            RawPrice::Text(text) => parse_price_text(text)
                .map_err(|reason| RowError::new(line, "price", text, reason))?,
            RawPrice::Json(value) => parse_price_json(value)
                .map_err(|reason| RowError::new(line, "price", &value.to_string(), reason))?,
        };
        Ok(PriceRow {
            orig_code: orig,
            dest_code: dest,
            day,
            price,
        })
    }
}

fn parse_day(raw: &str) -> Result<NaiveDate, String> {
    // Exactly YYYY-MM-DD: chrono alone would also accept `2016-1-1`.
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err("a day is written YYYY-MM-DD".into());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "not a calendar day".into())
}

fn check_positive(value: i64) -> Result<i32, String> {
    if value <= 0 {
        return Err("a price is a positive whole number of USD".into());
    }
    i32::try_from(value).map_err(|_| format!("a price is at most {}", i32::MAX))
}

fn parse_price_text(raw: &str) -> Result<i32, String> {
    if raw.is_empty() {
        return Err("a price is required".into());
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return match raw.parse::<i64>() {
            Ok(v) => check_positive(v),
            Err(_) => Err(format!("a price is at most {}", i32::MAX)),
        };
    }
    if let Some(rest) = raw.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a price is a positive whole number of USD".into());
        }
    }
    if raw.parse::<f64>().is_ok() {
        return Err("a price is a whole number of USD, not a fraction".into());
    }
    Err("a price is a positive whole number of USD".into())
}

fn parse_price_json(value: &serde_json::Value) -> Result<i32, String> {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(v) = n.as_i64() {
                check_positive(v)
            } else if n.as_u64().is_some() {
                Err(format!("a price is at most {}", i32::MAX))
            } else {
                Err("a price is a whole number of USD, not a fraction".into())
            }
        }
        serde_json::Value::Null => Err("a price is required".into()),
        _ => Err("a price is a JSON number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(price: &str) -> Result<PriceRow, RowError> {
        PriceRow::parse(7, "CNSHA", "NLRTM", "2016-01-31", RawPrice::Text(price))
    }

    #[test]
    fn parses_a_valid_row() {
        let row = text("1234").unwrap();
        assert_eq!(row.orig_code.as_str(), "CNSHA");
        assert_eq!(row.dest_code.as_str(), "NLRTM");
        assert_eq!(row.day, NaiveDate::from_ymd_opt(2016, 1, 31).unwrap());
        assert_eq!(row.price, 1234);
    }

    #[test]
    fn names_the_wrong_column() {
        let cases = [
            (("CNSH", "NLRTM", "2016-01-01", "1"), "orig_code"),
            (("CNSHA", "nlrtm", "2016-01-01", "1"), "dest_code"),
            (("CNSHA", "NLRTM", "2016-02-30", "1"), "day"),
            (("CNSHA", "NLRTM", "2016-1-1", "1"), "day"),
            (("CNSHA", "NLRTM", "2016-01-01", "0"), "price"),
            (("CNSHA", "NLRTM", "2016-01-01", "-5"), "price"),
            (("CNSHA", "NLRTM", "2016-01-01", "12.5"), "price"),
            (("CNSHA", "NLRTM", "2016-01-01", ""), "price"),
            (("CNSHA", "NLRTM", "2016-01-01", "99999999999"), "price"),
            (("CNSHA", "NLRTM", "2016-01-01", "abc"), "price"),
        ];
        for ((o, d, day, p), column) in cases {
            let err = PriceRow::parse(3, o, d, day, RawPrice::Text(p)).unwrap_err();
            assert_eq!(err.column, column, "{o} {d} {day} {p}: {err}");
            assert_eq!(err.line, 3);
        }
    }

    #[test]
    fn json_prices_must_be_positive_integers() {
        let parse = |v: serde_json::Value| {
            PriceRow::parse(1, "CNSHA", "NLRTM", "2016-01-01", RawPrice::Json(&v))
        };
        assert_eq!(parse(serde_json::json!(10)).unwrap().price, 10);
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!("10"),
            serde_json::json!(null),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert_eq!(err.column, "price", "{bad}");
        }
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "x".repeat(1000);
        let err =
            PriceRow::parse(1, &long, "NLRTM", "2016-01-01", RawPrice::Text("1")).unwrap_err();
        assert!(err.value.chars().count() <= MAX_QUOTED + 1);
    }
}
