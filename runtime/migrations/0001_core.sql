-- The rates network (regions, ports) and prices, with per-lane daily aggregates
-- kept in step with prices by statement-level triggers: every writer (POST /prices,
-- batch commits, seeding) updates them inside its own transaction, so a reader
-- never sees half a batch.

-- A tree of regions of any depth; a root has no parent.
CREATE TABLE regions (
    slug        TEXT PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        TEXT NOT NULL CHECK (length(name) > 0),
    parent_slug TEXT REFERENCES regions (slug) ON UPDATE CASCADE,
    CHECK (parent_slug IS DISTINCT FROM slug)
);
CREATE INDEX regions_parent_slug ON regions (parent_slug);

-- Ports, each in exactly one region (at any level of the tree).
CREATE TABLE ports (
    code        CHAR(5) PRIMARY KEY CHECK (code ~ '^[A-Z]{2}[A-Z0-9]{3}$'),
    name        TEXT NOT NULL CHECK (length(name) > 0),
    parent_slug TEXT NOT NULL REFERENCES regions (slug) ON UPDATE CASCADE
);
CREATE INDEX ports_parent_slug ON ports (parent_slug);

-- Prices: integer USD, any number per lane and day.
CREATE TABLE prices (
    orig_code CHAR(5) NOT NULL REFERENCES ports (code),
    dest_code CHAR(5) NOT NULL REFERENCES ports (code),
    day       DATE    NOT NULL,
    price     INTEGER NOT NULL CHECK (price > 0)
);
-- Lane/day access for ad-hoc queries and rebuilding the aggregates.
CREATE INDEX prices_lane_day ON prices (orig_code, dest_code, day);
-- Lets port deletions check the destination foreign key without a full scan.
CREATE INDEX prices_dest_code ON prices (dest_code);

-- Per lane and day: the sum and count of prices. GET /rates reads only this
-- table: one row per lane-day instead of one per price.
CREATE TABLE lane_daily (
    orig_code   CHAR(5) NOT NULL,
    dest_code   CHAR(5) NOT NULL,
    day         DATE    NOT NULL,
    price_sum   BIGINT  NOT NULL,
    -- No CHECK (price_count >= 0): ON CONFLICT checks constraints on the
    -- proposed row, which carries negative deltas for updates and deletes.
    price_count INTEGER NOT NULL,
    PRIMARY KEY (orig_code, dest_code, day)
) WITH (fillfactor = 90);

-- Adds (sign = 1) or removes (sign = -1) a set of prices from the aggregates.
-- Rows are upserted in key order so concurrent writers lock them in the same
-- order and cannot deadlock each other.
CREATE FUNCTION lane_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO lane_daily AS l (orig_code, dest_code, day, price_sum, price_count)
        SELECT orig_code, dest_code, day, -sum(price), -count(*)
        FROM old_prices GROUP BY orig_code, dest_code, day
        ORDER BY orig_code, dest_code, day
        ON CONFLICT (orig_code, dest_code, day) DO UPDATE
            SET price_sum = l.price_sum + excluded.price_sum,
                price_count = l.price_count + excluded.price_count;
        DELETE FROM lane_daily WHERE price_count = 0;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO lane_daily AS l (orig_code, dest_code, day, price_sum, price_count)
        SELECT orig_code, dest_code, day, sum(price), count(*)
        FROM new_prices GROUP BY orig_code, dest_code, day
        ORDER BY orig_code, dest_code, day
        ON CONFLICT (orig_code, dest_code, day) DO UPDATE
            SET price_sum = l.price_sum + excluded.price_sum,
                price_count = l.price_count + excluded.price_count;
    END IF;
    -- Last, so the lock on this row is held only from here to commit.
    UPDATE prices_version SET version = version + 1;
    RETURN NULL;
END
$$;

-- Bumped by every statement that changes prices, in the same transaction:
-- a reader that sees version N sees exactly the prices of version N, so the
-- runtime can cache query answers by version (on a replica too).
CREATE TABLE prices_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    version   BIGINT  NOT NULL
);
INSERT INTO prices_version (version) VALUES (0);

CREATE TRIGGER prices_lane_daily_insert AFTER INSERT ON prices
    REFERENCING NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION lane_daily_apply();
CREATE TRIGGER prices_lane_daily_update AFTER UPDATE ON prices
    REFERENCING OLD TABLE AS old_prices NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION lane_daily_apply();
CREATE TRIGGER prices_lane_daily_delete AFTER DELETE ON prices
    REFERENCING OLD TABLE AS old_prices
    FOR EACH STATEMENT EXECUTE FUNCTION lane_daily_apply();

CREATE FUNCTION lane_daily_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE lane_daily;
    UPDATE prices_version SET version = version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER prices_lane_daily_truncate AFTER TRUNCATE ON prices
    FOR EACH STATEMENT EXECUTE FUNCTION lane_daily_truncate();
