//! A claimed job: which batch a worker holds, for how many deliveries, and the
//! handle its queue needs to renew, finish or hand it back.

use uuid::Uuid;

/// A claimed job: the batch and how to give it back.
#[derive(Debug, Clone)]
pub struct Lease {
    pub batch_id: Uuid,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub handle: LeaseHandle,
}

#[derive(Debug, Clone)]
pub enum LeaseHandle {
    Postgres { owner: String },
    Sqs { receipt_handle: String },
}

/// What the claim found.
pub enum Claim {
    /// A batch to process.
    Job(Lease),
    /// A job was handled without processing (parked as failed, a stray or
    /// bookkeeping message); look again at once.
    Handled,
    /// Nothing to do now.
    Empty,
}
