-- The outbox of batch outcome events: one row per batch that reached a final status,
-- written in the same transaction that made it final, delivered afterwards (at least
-- once; `id` is what receivers deduplicate on). Delivered and given-up events are kept.
CREATE TABLE batch_events (
    id              uuid PRIMARY KEY,
    batch_id        uuid NOT NULL REFERENCES batches (id),
    status          text NOT NULL CHECK (status IN ('committed', 'rejected', 'failed')),
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error      text,
    delivered_at    timestamptz,
    given_up_at     timestamptz
);

-- What the deliverer takes next: undelivered, not given up, due.
CREATE INDEX batch_events_pending ON batch_events (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX batch_events_by_batch ON batch_events (batch_id);
