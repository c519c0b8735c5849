//! The key an environment's batch outcome webhooks are signed with
//! (`RATES_WEBHOOK_SECRET`). envctl makes it (32 bytes from the operating system, as hex)
//! and keeps it where the environment's admin token is kept: Secrets Manager
//! (`<name>/events/webhook-secret`) for AWS environments, a 0600 file in the state
//! directory for local ones. A value already there is kept, so an operator can put the
//! receiver's own key instead; it never appears in a rendered file or a log line.

use std::path::Path;

use rates_contract::settings::WEBHOOK_SECRET_MIN_LEN;

use crate::{client_token, Error, Result};

/// A new secret: 64 hex characters.
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Io {
        context: "reading random bytes for the webhook secret".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(hex::encode(bytes))
}

/// Whether a stored value can sign events: as long as the runtime requires, and one line
/// of visible characters (it travels in an environment variable).
pub fn usable(value: &str) -> bool {
    value.len() >= WEBHOOK_SECRET_MIN_LEN && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The secret kept in `path`, made (and written, readable by the owner only) when there is
/// none yet. A file whose content cannot sign is an error rather than silently replaced:
/// a receiver may already hold it.
pub fn local(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            if usable(text) {
                return Ok(text.to_string());
            }
            Err(Error::Local {
                message: format!(
                    "{} does not hold a webhook secret (at least {WEBHOOK_SECRET_MIN_LEN} visible characters on one line)",
                    path.display()
                ),
                help: Some(format!(
                    "put the receiver's key there, or delete the file to have envctl make one (`openssl rand -hex 32` makes a good one: {})",
                    path.display()
                )),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate()?;
            client_token::write_private(path, &secret)?;
            Ok(secret)
        }
        Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_hex_and_differ() {
        let a = generate().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate().unwrap());
        assert!(usable(&a));
        assert!(!usable("short"));
        assert!(
            !usable("sixteen chars ok"),
            "a space would not survive as one token"
        );
    }

    #[test]
    fn the_local_secret_is_made_once_kept_private_and_an_unusable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/webhook-secret");
        let first = local(&path).unwrap();
        assert_eq!(local(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // An operator's own key is used as it is.
        std::fs::write(&path, "receivers-own-key-0123456789\n").unwrap();
        assert_eq!(local(&path).unwrap(), "receivers-own-key-0123456789");
        std::fs::write(&path, "short\n").unwrap();
        let err = local(&path).unwrap_err().to_string();
        assert!(err.contains("does not hold a webhook secret"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
    }
}
