//! The bearer token format: `rates_<id>_<secret>`, the id 32 hex digits (a UUID) that
//! names the client's row, the secret 64 hex digits (256 random bits from the operating
//! system). Only the SHA-256 of the secret is stored; the token text is shown once, when
//! it is created. Neither the token nor its secret has a `Debug` or `Display` that could
//! put it in a log.

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use rates_contract::tokens::{PREFIX, SECRET_BYTES};

const ID_HEX: usize = 32;

/// The SHA-256 of a token's secret, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Whether `presented` hashes to this, compared in constant time.
    pub fn matches(&self, presented: &PresentedToken) -> bool {
        let hash = Sha256::digest(presented.secret);
        bool::from(hash.as_slice().ct_eq(&self.0))
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A newly made token: its text (shown once) and what is stored.
pub struct NewToken {
    pub id: Uuid,
    pub text: String,
    pub hash: SecretHash,
}

impl NewToken {
    /// A fresh token with 256 bits of secret.
    pub fn generate() -> NewToken {
        let mut secret = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut secret);
        let id = Uuid::new_v4();
        NewToken {
            id,
            text: rates_contract::tokens::format(*id.as_bytes(), secret),
            hash: SecretHash(Sha256::digest(secret).into()),
        }
    }

    /// A token given from outside (envctl makes an environment's first token and keeps
    /// it in Secrets Manager): it must have the format and a secret from a real random
    /// source, so that a guessable text is refused.
    pub fn from_text(text: &str) -> Option<NewToken> {
        let presented = PresentedToken::parse(text)?;
        // 32 random bytes hold about 30 distinct values (fewer than 16 has a chance
        // below 1e-20); a pattern such as all zeros or a repeated pair has one or two.
        let distinct: std::collections::HashSet<u8> = presented.secret.iter().copied().collect();
        if distinct.len() < 16 {
            return None;
        }
        Some(NewToken {
            id: presented.id,
            text: text.to_string(),
            hash: SecretHash(Sha256::digest(presented.secret).into()),
        })
    }
}

/// A token as a client presented it, parsed but not yet verified.
pub struct PresentedToken {
    pub id: Uuid,
    secret: [u8; SECRET_BYTES],
}

impl PresentedToken {
    /// Parses `rates_<32 hex>_<64 hex>`; None for anything else.
    pub fn parse(text: &str) -> Option<PresentedToken> {
        let rest = text.strip_prefix(PREFIX)?;
        let (id, secret_hex) = rest.split_once('_')?;
        if id.len() != ID_HEX || secret_hex.len() != 2 * SECRET_BYTES {
            return None;
        }
        let id = Uuid::try_parse(id).ok()?;
        let mut secret = [0u8; SECRET_BYTES];
        hex::decode_to_slice(secret_hex, &mut secret).ok()?;
        Some(PresentedToken { id, secret })
    }

    /// The token of an `Authorization: Bearer <token>` value.
    pub fn from_authorization(value: &str) -> Option<PresentedToken> {
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        PresentedToken::parse(token.trim())
    }
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedToken {{ id: {}, secret: .. }}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_verify() {
        let token = NewToken::generate();
        let presented = PresentedToken::parse(&token.text).unwrap();
        assert_eq!(presented.id, token.id);
        assert!(token.hash.matches(&presented));
        let other = NewToken::generate();
        assert!(!other.hash.matches(&presented));
        let header = format!("Bearer {}", token.text);
        assert!(PresentedToken::from_authorization(&header).is_some());
        assert!(PresentedToken::from_authorization(&format!("Basic {}", token.text)).is_none());
        // Nothing of the secret in Debug output.
        let shown = format!("{presented:?} {:?}", token.hash);
        assert!(!shown.contains(&token.text[39..]), "{shown}");
    }

    #[test]
    fn malformed_and_weak_tokens_are_refused() {
        let good = NewToken::generate().text;
        for bad in [
            "",
            "rates_",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replace("rates_", "rate_"),
            &format!("rates_{}_{}", "z".repeat(32), "0".repeat(64)),
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
        let weak = format!("rates_{}_{}", Uuid::new_v4().simple(), "ab".repeat(32));
        assert!(PresentedToken::parse(&weak).is_some());
        assert!(NewToken::from_text(&weak).is_none());
        assert!(NewToken::from_text(&good).is_some());
    }
}
