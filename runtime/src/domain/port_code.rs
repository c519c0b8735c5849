//! A port code (UN/LOCODE shape, e.g. `CNSGH`), parsed once wherever one enters the
//! runtime: query parameters, `POST /prices` bodies and batch rows share this rule.

/// Five ASCII characters: two capital letters (the country), then three capital
/// letters or digits, as `ports.code` requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortCode([u8; 5]);

/// Why a text is not a port code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortCodeError {
    #[error("a port code has exactly 5 characters, this one has {0}")]
    Length(usize),
    #[error("a port code is two capital letters then three capital letters or digits")]
    Shape,
}

impl PortCode {
    pub fn parse(raw: &str) -> Result<PortCode, PortCodeError> {
        let bytes = raw.as_bytes();
        if bytes.len() != 5 {
            return Err(PortCodeError::Length(raw.chars().count()));
        }
        let shaped = bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !shaped {
            return Err(PortCodeError::Shape);
        }
        let mut code = [0u8; 5];
        code.copy_from_slice(bytes);
        Ok(PortCode(code))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0).expect("port codes are ASCII")
    }
}

impl std::fmt::Display for PortCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_codes() {
        assert_eq!(PortCode::parse("CNSGH").unwrap().as_str(), "CNSGH");
        assert!(PortCode::parse("NO2AB").is_ok());
        assert_eq!(PortCode::parse("CNSG"), Err(PortCodeError::Length(4)));
        assert_eq!(PortCode::parse("CNSGHX"), Err(PortCodeError::Length(6)));
        for bad in ["cnsgh", "1NSGH", "CN-GH", "CNSG\u{e9}"] {
            assert!(PortCode::parse(bad).is_err(), "{bad}");
        }
    }
}
