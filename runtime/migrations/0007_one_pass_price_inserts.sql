-- Inserting prices: the port check and the aggregate maintenance in one statement over
-- the inserted rows, instead of two triggers that each scanned them.
--
-- Measured on a durable cluster with the 1,000,000-row synthetic batch (290,163
-- lane-days), the end of its COPY spent: the port check (a UNION of both code columns
-- over every row) 0.8-1.1 s, the aggregate upsert (hash aggregate, then a sort into key
-- order, then INSERT ... ON CONFLICT row by row) 3.1-4.7 s. Here:
--
-- * The prices_version row is locked FIRST, so writers of prices (and so of lane_daily)
--   take turns from this point to their commit. A writer that waited sees, statement by
--   statement (READ COMMITTED), the lane-days the one before it committed. Taking turns
--   is what lets the aggregates be written without ON CONFLICT: a plain insert of the
--   new lane-days and an update of the existing ones (2.1-2.7 s; with every lane-day
--   already there, as fast as the upsert). It costs no concurrency the old order had:
--   every writer already queued on this row lock at the end of its statement, until
--   its commit. The rows are still grouped in key order: no longer against deadlocks,
--   but because updating 32,000 existing lane-days of a full table in key order took
--   40% less time than in hash order, and readers find a lane's days on few pages.
-- * The rows are grouped once by lane and day; the ports are checked from the lanes of
--   that grouping (a few thousand rows, not two per price), locked FOR KEY SHARE as the
--   foreign key triggers did, and a missing one fails the statement with SQLSTATE 23503
--   (its lane_daily writes go with it).
--
-- UPDATE and DELETE of prices keep their triggers (0001, 0005), with the version row
-- locked first too. TRUNCATE of prices is unchanged.

CREATE FUNCTION prices_insert_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted  bigint;
    locked  bigint;
    missing text;
BEGIN
    -- First: writers of prices take turns from here to their commit.
    UPDATE prices_version SET version = version + 1;
    -- In key order: the updates then walk lane_daily's primary key (and its heap, laid
    -- out in that order) front to back, and new lane-days are stored in key order, so
    -- a query's lane and days stay on few pages.
    WITH added AS MATERIALIZED (
        SELECT orig_code, dest_code, day, sum(price) AS price_sum, count(*) AS price_count
        FROM new_prices GROUP BY orig_code, dest_code, day
        ORDER BY orig_code, dest_code, day
    ), updated AS (
        UPDATE lane_daily l
        SET price_sum = l.price_sum + a.price_sum,
            price_count = l.price_count + a.price_count
        FROM added a
        WHERE l.orig_code = a.orig_code AND l.dest_code = a.dest_code AND l.day = a.day
        RETURNING l.orig_code, l.dest_code, l.day
    ), inserted AS (
        INSERT INTO lane_daily (orig_code, dest_code, day, price_sum, price_count)
        SELECT a.orig_code, a.dest_code, a.day, a.price_sum, a.price_count
        FROM added a
        WHERE NOT EXISTS (
            SELECT 1 FROM updated u
            WHERE u.orig_code = a.orig_code AND u.dest_code = a.dest_code AND u.day = a.day)
    ), lanes AS (
        SELECT DISTINCT orig_code, dest_code FROM added
    ), codes AS (
        SELECT orig_code AS code FROM lanes
        UNION
        SELECT dest_code FROM lanes
    ), held AS (
        SELECT p.code FROM ports p WHERE p.code IN (SELECT code FROM codes)
        ORDER BY p.code
        FOR KEY SHARE OF p
    )
    SELECT (SELECT count(*) FROM codes), (SELECT count(*) FROM held) INTO wanted, locked;
    IF locked < wanted THEN
        SELECT min(code) INTO missing FROM (
            SELECT orig_code AS code FROM new_prices UNION SELECT dest_code FROM new_prices
        ) c WHERE NOT EXISTS (SELECT 1 FROM ports p WHERE p.code = c.code);
        RAISE EXCEPTION 'prices name port % which does not exist', coalesce(missing, '?')
            USING ERRCODE = 'foreign_key_violation', TABLE = 'prices';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER prices_0_check_ports_insert ON prices;
DROP TRIGGER prices_lane_daily_insert ON prices;
CREATE TRIGGER prices_insert_apply AFTER INSERT ON prices
    REFERENCING NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION prices_insert_apply();

-- Updates and deletes of prices (rare: corrections by hand): the version row first, as
-- above, then the upserts of 0001 (ON CONFLICT still, as their deltas may meet
-- lane-days in either direction).
CREATE OR REPLACE FUNCTION lane_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE prices_version SET version = version + 1;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO lane_daily AS l (orig_code, dest_code, day, price_sum, price_count)
        SELECT orig_code, dest_code, day, -sum(price), -count(*)
        FROM old_prices GROUP BY orig_code, dest_code, day
        ON CONFLICT (orig_code, dest_code, day) DO UPDATE
            SET price_sum = l.price_sum + excluded.price_sum,
                price_count = l.price_count + excluded.price_count;
        DELETE FROM lane_daily WHERE price_count = 0;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO lane_daily AS l (orig_code, dest_code, day, price_sum, price_count)
        SELECT orig_code, dest_code, day, sum(price), count(*)
        FROM new_prices GROUP BY orig_code, dest_code, day
        ON CONFLICT (orig_code, dest_code, day) DO UPDATE
            SET price_sum = l.price_sum + excluded.price_sum,
                price_count = l.price_count + excluded.price_count;
    END IF;
    RETURN NULL;
END
$$;
