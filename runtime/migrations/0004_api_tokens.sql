-- Clients of the API and their bearer tokens. A token is `rates_<id>_<secret>`: the id
-- finds the row, and only the SHA-256 of the secret is stored (the secret is 256 random
-- bits, so a plain hash cannot be brute-forced and needs no salt or slow KDF). Tokens
-- are never deleted, only revoked, so batches keep naming the client that uploaded them.
CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    scopes      text[] NOT NULL
                CHECK (cardinality(scopes) > 0
                       AND scopes <@ ARRAY['rates:read', 'batches:read', 'batches:write', 'prices:write']),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

-- Every replica caches verified tokens; a change to a token (revocation above all)
-- tells them all at once.
CREATE FUNCTION api_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rates_api_tokens', coalesce(NEW.id, OLD.id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed
    AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_changed();

-- The client that uploaded a batch (NULL for object drops, which the bucket policy
-- admits by producer role).
ALTER TABLE batches ADD COLUMN client_id uuid REFERENCES api_tokens (id);
