//! The start-up line: once its listener is bound, the runtime (`serve`, and `work` for its
//! probes) writes one JSON log line
//!
//! ```text
//! {"timestamp":"...","level":"INFO","message":"listening","addr":"127.0.0.1:8080","target":"rates::server"}
//! ```
//!
//! envctl starts the local api on port 0 and reads the port the kernel picked from this
//! line. The line is a JSON object with [`MESSAGE_FIELD`] = [`LISTENING`] and
//! [`ADDR_FIELD`] = the bound `ip:port`, at the top level (the runtime's layout) or under
//! `fields` (tracing's unflattened layout), among other keys.

/// The key of the log line's message.
pub const MESSAGE_FIELD: &str = "message";
/// The message of the start-up line.
pub const LISTENING: &str = "listening";
/// The key holding the bound address, `ip:port` (IPv6 as `[addr]:port`).
pub const ADDR_FIELD: &str = "addr";
/// Where tracing puts the fields when events are not flattened.
pub const NESTED_FIELDS: &str = "fields";
