//! Prices written one range at a time (POST /prices): one price for every day of a
//! date range, both ports checked, in one transaction.

use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::domain::{DateRange, PortCode};
use crate::error::{DbContext, Error, Result};

/// A validated POST /prices request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRange {
    pub range: DateRange,
    pub origin: PortCode,
    pub destination: PortCode,
    pub price: i32,
}

const FIELDS: [&str; 5] = [
    "date_from",
    "date_to",
    "origin_code",
    "destination_code",
    "price",
];

impl PriceRange {
    /// Parses and validates the JSON body; every error names the field.
    pub fn parse(body: &[u8], max_range_days: u32) -> Result<PriceRange> {
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::InvalidBody {
            message: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(object) = value else {
            return Err(Error::InvalidBody {
                message: "expected a JSON object with date_from, date_to, origin_code, destination_code and price".into(),
            });
        };
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid(
                unknown.as_str(),
                "is not a field of this request (expected date_from, date_to, origin_code, destination_code, price)",
            ));
        }
        let range = DateRange::parse(
            string_field(&object, "date_from")?,
            string_field(&object, "date_to")?,
            max_range_days,
        )?;
        let origin = port_code(&object, "origin_code")?;
        let destination = port_code(&object, "destination_code")?;
        let price = parse_price(object.get("price"))?;
        Ok(PriceRange {
            range,
            origin,
            destination,
            price,
        })
    }
}

fn string_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::invalid(
            name,
            format!("must be a string, got {other}"),
        )),
    }
}

/// A required port code field; the error names the field and the value.
fn port_code(object: &Map<String, Value>, name: &str) -> Result<PortCode> {
    let raw = required_string(object, name)?;
    PortCode::parse(raw).map_err(|e| {
        Error::invalid(
            name,
            format!("`{raw}` is not a port code: {e} (e.g. CNSGH)"),
        )
    })
}

fn required_string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    string_field(object, name)?.ok_or_else(|| Error::invalid(name, "is required"))
}

fn parse_price(value: Option<&Value>) -> Result<i32> {
    let number = match value {
        None | Some(Value::Null) => return Err(Error::invalid("price", "is required")),
        Some(Value::Number(n)) => n,
        Some(other) => {
            return Err(Error::invalid(
                "price",
                format!("must be a JSON integer, got {other}"),
            ))
        }
    };
    let Some(integer) = number.as_i64() else {
        return Err(Error::invalid(
            "price",
            format!("must be a whole number of USD, got {number}"),
        ));
    };
    if integer <= 0 {
        return Err(Error::invalid(
            "price",
            format!("must be greater than 0, got {integer}"),
        ));
    }
    i32::try_from(integer).map_err(|_| {
        Error::invalid(
            "price",
            format!("must be at most {}, got {integer}", i32::MAX),
        )
    })
}

/// Checks both ports exist, then inserts one row per day; all or nothing.
pub async fn insert_price_range(pool: &PgPool, request: &PriceRange) -> Result<i64> {
    let mut tx = pool.begin().await.db("starting the prices transaction")?;
    for (parameter, code) in [
        ("origin_code", &request.origin),
        ("destination_code", &request.destination),
    ] {
        // KEY SHARE: the port cannot be deleted before this transaction commits.
        let found: Option<(String,)> =
            sqlx::query_as("SELECT code::text FROM ports WHERE code = $1::bpchar FOR KEY SHARE")
                .bind(code.as_str())
                .fetch_optional(&mut *tx)
                .await
                .db("looking up the port")?;
        if found.is_none() {
            return Err(Error::UnknownPlace {
                parameter: parameter.into(),
                value: code.as_str().into(),
            });
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO prices (orig_code, dest_code, day, price)
         SELECT $1, $2, d::date, $5
         FROM generate_series($3::date, $4::date, interval '1 day') AS d",
    )
    .bind(request.origin.as_str())
    .bind(request.destination.as_str())
    .bind(request.range.from)
    .bind(request.range.to)
    .bind(request.price)
    .execute(&mut *tx)
    .await
    .db("inserting prices")?
    .rows_affected();
    tx.commit().await.db("committing prices")?;
    Ok(inserted as i64)
}
