//! An environment's first API token. envctl makes it (the contract's text, 256 bits from
//! the operating system), keeps it (Secrets Manager for AWS environments, a 0600 file in
//! the state directory for local ones) and has the runtime register its hash as client
//! `admin` with every scope (`rates migrate --admin-token-from-env`). The token itself
//! never appears in a rendered file, a log line or an event.

use std::path::Path;

use crate::{Error, Result};

/// The variable the migration carries the token in.
pub const ENV_VAR: &str = rates_contract::tokens::ADMIN_TOKEN_VAR;

/// A new token.
pub fn generate() -> Result<String> {
    let mut id = [0u8; 16];
    let mut secret = [0u8; rates_contract::tokens::SECRET_BYTES];
    getrandom::getrandom(&mut id)
        .and_then(|()| getrandom::getrandom(&mut secret))
        .map_err(|e| Error::Io {
            context: "reading random bytes for a token".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    // A version-4 UUID, as the runtime's own ids are.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(rates_contract::tokens::format(id, secret))
}

/// The token kept in `path`, made (and written, readable by the owner only) when there
/// is none yet.
pub fn local(path: &Path) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let text = text.trim().to_string();
        if text.starts_with(rates_contract::tokens::PREFIX) {
            return Ok(text);
        }
    }
    let token = generate()?;
    write_private(path, &token)?;
    Ok(token)
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("creating {}", path.display())))?;
    writeln!(file, "{text}").map_err(Error::io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_contracts_shape_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("rates_") && a.len() == 103, "{a}");
        assert!(a[6..].bytes().all(|c| c == b'_' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_local_token_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/api-token");
        let first = local(&path).unwrap();
        assert_eq!(local(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
