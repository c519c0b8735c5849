//! Batch statuses, as `GET /batches/{id}` and `GET /batches?status=` spell them.

/// Where a batch is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BatchStatus {
    /// Staged durably and waiting for a worker (also after a retry is scheduled).
    Queued,
    /// A worker holds it (a lease or an SQS receive).
    Processing,
    /// Every row is in `prices`.
    Committed,
    /// The payload has errors; nothing was inserted.
    Rejected,
    /// Infrastructure failures exhausted the retries; nothing was inserted.
    Failed,
}

impl BatchStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [BatchStatus; 5] = [
        BatchStatus::Queued,
        BatchStatus::Processing,
        BatchStatus::Committed,
        BatchStatus::Rejected,
        BatchStatus::Failed,
    ];

    /// The status as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Queued => "queued",
            BatchStatus::Processing => "processing",
            BatchStatus::Committed => "committed",
            BatchStatus::Rejected => "rejected",
            BatchStatus::Failed => "failed",
        }
    }

    /// The status named `value`, if any.
    pub fn parse(value: &str) -> Option<BatchStatus> {
        BatchStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A final status never changes again: committed, rejected or failed.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            BatchStatus::Committed | BatchStatus::Rejected | BatchStatus::Failed
        )
    }
}

impl std::fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_back_and_only_three_are_final() {
        for s in BatchStatus::ALL {
            assert_eq!(BatchStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(BatchStatus::parse("done"), None);
        let finals: Vec<&str> = BatchStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(BatchStatus::as_str)
            .collect();
        assert_eq!(finals, ["committed", "rejected", "failed"]);
    }
}
