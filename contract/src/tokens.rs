//! The text of a client's bearer token: `rates_<id>_<secret>`, the id 32 lower-case hex
//! digits (a UUID, the row in `api_tokens`), the secret 64 lower-case hex digits (256
//! random bits). The runtime makes and verifies tokens; envctl makes an environment's
//! first token itself (it keeps it in Secrets Manager, or in the local state directory) and
//! has the runtime register it (`rates token create --token-from-env`), so both must write
//! the same text.

/// What every token starts with (secret scanners and people recognise it).
pub const PREFIX: &str = "rates_";
/// The variable an environment's first token reaches `rates migrate
/// --admin-token-from-env` in (envctl writes it; the runtime reads the variable it is told).
pub const ADMIN_TOKEN_VAR: &str = "RATES_ADMIN_TOKEN";
/// Random bytes in a token's secret.
pub const SECRET_BYTES: usize = 32;

/// The token text for `id` and `secret`.
pub fn format(id: [u8; 16], secret: [u8; SECRET_BYTES]) -> String {
    let mut text = String::with_capacity(PREFIX.len() + 32 + 1 + 2 * SECRET_BYTES);
    text.push_str(PREFIX);
    push_hex(&mut text, &id);
    text.push('_');
    push_hex(&mut text, &secret);
    text
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_prefix_id_and_secret_in_hex() {
        let mut id = [0u8; 16];
        id[0] = 0xab;
        id[15] = 0x01;
        let secret = [0x5au8; SECRET_BYTES];
        let text = format(id, secret);
        assert_eq!(
            text,
            format!("rates_ab{}01_{}", "0".repeat(28), "5a".repeat(32))
        );
        assert_eq!(text.len(), 103);
    }
}
