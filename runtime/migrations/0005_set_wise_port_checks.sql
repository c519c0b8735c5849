-- Referential integrity of prices -> ports, checked per statement instead of per row.
--
-- The foreign keys checked every inserted price on its own (an index probe and a row
-- lock per row): for a batch of a million prices that cost more than the COPY of its
-- rows. The same guarantee, set-wise:
--
-- * every statement that inserts or updates prices locks the ports its rows name
--   (FOR KEY SHARE, as the foreign key trigger does) and fails with SQLSTATE 23503
--   (foreign_key_violation) when one is missing -- one join against the small ports
--   table, whoever the writer is (the batch worker, POST /prices, a psql session);
-- * deleting a port, or changing its code, fails while a price names it; the row lock
--   the delete takes waits for any transaction holding the port FOR KEY SHARE, so a
--   concurrent insert either commits first (and the delete then sees its prices) or
--   waits and then finds the port gone;
-- * TRUNCATE of ports (which fires no row triggers) fails while prices has rows.

ALTER TABLE prices DROP CONSTRAINT prices_orig_code_fkey;
ALTER TABLE prices DROP CONSTRAINT prices_dest_code_fkey;

CREATE FUNCTION prices_check_ports() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted  bigint;
    locked  bigint;
    missing text;
BEGIN
    WITH codes AS (
        SELECT orig_code AS code FROM new_prices
        UNION
        SELECT dest_code FROM new_prices
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

-- Before the aggregate triggers (triggers of one event fire in name order).
CREATE TRIGGER prices_0_check_ports_insert AFTER INSERT ON prices
    REFERENCING NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION prices_check_ports();
CREATE TRIGGER prices_0_check_ports_update AFTER UPDATE ON prices
    REFERENCING NEW TABLE AS new_prices
    FOR EACH STATEMENT EXECUTE FUNCTION prices_check_ports();

CREATE FUNCTION ports_keep_priced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.code = OLD.code THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM prices WHERE orig_code = OLD.code)
       OR EXISTS (SELECT 1 FROM prices WHERE dest_code = OLD.code) THEN
        RAISE EXCEPTION 'port % has prices; it cannot be deleted or renamed', OLD.code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'ports';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER ports_keep_priced BEFORE DELETE OR UPDATE OF code ON ports
    FOR EACH ROW EXECUTE FUNCTION ports_keep_priced();

CREATE FUNCTION ports_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM prices) THEN
        RAISE EXCEPTION 'ports cannot be truncated while prices has rows'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'ports';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ports_truncate_guard BEFORE TRUNCATE ON ports
    FOR EACH STATEMENT EXECUTE FUNCTION ports_truncate_guard();
