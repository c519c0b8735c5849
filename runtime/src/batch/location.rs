//! Where a batch's payload is kept between upload and commit, as stored in
//! `batches.payload_location`: chunks in PostgreSQL, or one S3 object (an upload
//! staged by the runtime, or an object a producer dropped).

use std::fmt;

/// The stored text of a payload staged in PostgreSQL.
const POSTGRES: &str = "postgres";

/// A payload's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadLocation {
    /// Chunks in `batch_payload_chunks`, written in the upload's transaction.
    Postgres,
    /// One object: `s3://bucket/key`.
    S3 { bucket: String, key: String },
}

impl PayloadLocation {
    /// Reads the stored form; None for anything else.
    pub fn parse(stored: &str) -> Option<PayloadLocation> {
        if stored == POSTGRES {
            return Some(PayloadLocation::Postgres);
        }
        let (bucket, key) = stored.strip_prefix("s3://")?.split_once('/')?;
        if bucket.is_empty() || key.is_empty() {
            return None;
        }
        Some(PayloadLocation::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

/// The stored form: `postgres` or `s3://bucket/key`.
impl fmt::Display for PayloadLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadLocation::Postgres => f.write_str(POSTGRES),
            PayloadLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip() {
        for stored in ["postgres", "s3://rates-drops/drop/2026/prices.csv"] {
            assert_eq!(PayloadLocation::parse(stored).unwrap().to_string(), stored);
        }
        for bad in [
            "",
            "Postgres",
            "s3://",
            "s3://bucket",
            "s3://bucket/",
            "s3:///key",
            "file:///x",
        ] {
            assert_eq!(PayloadLocation::parse(bad), None, "{bad}");
        }
    }
}
