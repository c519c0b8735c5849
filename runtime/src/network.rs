//! Places in the rates network: port codes and region slugs, parsed at the edge.

use crate::error::{Error, Result};

/// A port code: five characters, two letters then three letters or digits
/// (the UN/LOCODE shape), e.g. `CNSGH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortCode(String);

impl PortCode {
    pub fn parse(parameter: &str, raw: &str) -> Result<PortCode> {
        let b = raw.as_bytes();
        let ok = b.len() == 5
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(PortCode(raw.to_string()))
        } else {
            Err(Error::invalid(
                parameter,
                format!(
                    "`{raw}` is not a port code (five characters: two capital letters, then three capital letters or digits, e.g. CNSGH)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    fn port_codes() {
        assert!(PortCode::parse("p", "CNSGH").is_ok());
        assert!(PortCode::parse("p", "NO2AB").is_ok());
        for bad in ["", "CNSG", "CNSGHX", "cnsgh", "1NSGH", "CN-GH"] {
            let err = PortCode::parse("origin_code", bad).unwrap_err();
            assert!(err.to_string().contains("origin_code"), "{err}");
        }
    }

    #[test]
    fn places() {
        assert!(PlaceRef::parse("origin", "north_europe_main").is_ok());
        assert!(PlaceRef::parse("origin", "CNSGH").is_ok());
        assert!(PlaceRef::parse("origin", "").is_err());
        assert!(PlaceRef::parse("origin", "a b").is_err());
        assert!(PlaceRef::parse("origin", &"x".repeat(65)).is_err());
    }
}
