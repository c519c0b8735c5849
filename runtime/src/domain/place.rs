//! A place in the rates network as a query names it: a port code or a region slug.

use crate::error::{Error, Result};

/// A port code or a region slug, as accepted by `origin` and `destination`.
/// Which one it is gets decided by the database (the two namespaces differ in
/// case, so a value cannot be both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlaceRef(String);

impl PlaceRef {
    pub fn parse(parameter: &str, raw: &str) -> Result<PlaceRef> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if valid {
            Ok(PlaceRef(raw.to_string()))
        } else if raw.is_empty() {
            Err(Error::invalid(parameter, "must not be empty"))
        } else {
            Err(Error::invalid(
                parameter,
                format!("`{raw}` is not a port code or region slug (letters, digits, `_` and `-`, at most 64)"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        assert!(PlaceRef::parse("origin", "north_europe_main").is_ok());
        assert!(PlaceRef::parse("origin", "CNSGH").is_ok());
        assert!(PlaceRef::parse("origin", "").is_err());
        assert!(PlaceRef::parse("origin", "a b").is_err());
        assert!(PlaceRef::parse("origin", &"x".repeat(65)).is_err());
    }
}
