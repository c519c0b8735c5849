-- Batch ingestion: the batch records, their staged payloads and the
-- PostgreSQL-backed job queue. A batch moves queued -> processing ->
-- committed | rejected | failed; only a worker's single transaction moves it
-- to committed (together with its rows in prices).

CREATE TABLE batches (
    id              uuid PRIMARY KEY,
    -- Client-supplied (Idempotency-Key header) or derived from an object drop
    -- (s3://bucket/key#etag); NULL when the server assigned the id.
    idempotency_key text UNIQUE
                    CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 1024),
    -- SHA-256 of the payload (hex), or the object's ETag for object drops:
    -- the same key with other content is refused.
    content_hash    text NOT NULL,
    format          text NOT NULL CHECK (format IN ('csv', 'ndjson')),
    source          text NOT NULL CHECK (source IN ('upload', 'object_drop')),
    -- Where the payload lives: 'postgres' (batch_payload_chunks) or an
    -- s3://bucket/key URL.
    payload_location text NOT NULL,
    size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'processing', 'committed', 'rejected', 'failed')),
    -- Times the batch was handed to a worker (lease taken or message received).
    attempts        integer NOT NULL DEFAULT 0,
    row_count       bigint,
    error_count     bigint,
    -- The first errors: [{"line", "column", "value", "reason"}].
    errors          jsonb,
    -- Why the batch failed (infrastructure), or the last retried failure.
    failure         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CONSTRAINT batches_final_has_finish CHECK (
        (status IN ('committed', 'rejected', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX batches_recent ON batches (created_at DESC, id DESC);
CREATE INDEX batches_by_status_recent ON batches (status, created_at DESC, id DESC);

-- The staged payload (PostgreSQL staging): the raw bytes in order, in chunks
-- small enough to stream. Deleted when the batch reaches a final state other
-- than failed (a failed batch keeps its payload so an operator can retry it).
CREATE TABLE batch_payload_chunks (
    -- Deferred: the upload streams chunks first and records the batch (whose
    -- content hash is known only at the end) in the same transaction.
    batch_id uuid    NOT NULL REFERENCES batches (id) ON DELETE CASCADE
                     DEFERRABLE INITIALLY DEFERRED,
    seq      integer NOT NULL CHECK (seq >= 0),
    data     bytea   NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
-- Payload bytes are already compact text; skip TOAST compression attempts.
ALTER TABLE batch_payload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The PostgreSQL queue: one job per batch that still needs a worker.
-- Workers claim with FOR UPDATE SKIP LOCKED and hold a lease
-- (leased_until) that they renew while working; an expired lease makes the
-- job claimable again.
CREATE TABLE batch_jobs (
    batch_id     uuid        PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    run_after    timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    lease_owner  text,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((leased_until IS NULL) = (lease_owner IS NULL))
);

CREATE INDEX batch_jobs_claimable ON batch_jobs (run_after, batch_id);
