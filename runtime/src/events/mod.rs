//! Batch outcome events: written to an outbox in the transaction that makes a batch
//! final ([`outbox`]), then delivered to a webhook, signed and retried ([`delivery`]).
//! Depends on nothing of the batch side: the event is built from the batch record.

pub mod delivery;
pub mod outbox;
pub mod record;
pub mod settings;
