//! Reading the address the api bound from its `listening` log line (the api is started on
//! port 0 when no port is configured, so the kernel picks a free one without a race).

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;

/// The address in the first `listening` line written to `log` after byte `offset`.
pub(super) fn find_listening_addr(log: &Path, offset: u64) -> Option<SocketAddr> {
    let mut file = std::fs::File::open(log).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.lines().find_map(parse_listening_line)
}

/// `{"message":"listening","addr":"127.0.0.1:PORT"}`, with the fields at the top level or
/// under `fields` (tracing's JSON layout), among other keys: the contract's start-up line
/// ([`rates_contract::startup`]).
pub(super) fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    use rates_contract::startup::{ADDR_FIELD, LISTENING, MESSAGE_FIELD, NESTED_FIELDS};
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let found = [&value, &value[NESTED_FIELDS]]
        .into_iter()
        .find(|obj| obj[MESSAGE_FIELD] == LISTENING)
        .and_then(|obj| obj[ADDR_FIELD].as_str()?.parse().ok());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_and_nested_listening_lines() {
        let flat =
            r#"{"timestamp":"t","level":"INFO","message":"listening","addr":"127.0.0.1:4100"}"#;
        let nested = r#"{"level":"INFO","fields":{"message":"listening","addr":"127.0.0.1:4200"},"target":"rates"}"#;
        assert_eq!(parse_listening_line(flat).unwrap().port(), 4100);
        assert_eq!(parse_listening_line(nested).unwrap().port(), 4200);
        assert!(parse_listening_line(r#"{"message":"ready"}"#).is_none());
        assert!(parse_listening_line("not json").is_none());
    }
}
