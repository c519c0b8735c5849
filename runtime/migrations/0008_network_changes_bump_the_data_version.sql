-- The data version (prices_version) also moves when the network changes.
--
-- Answers depend on the regions and ports as much as on the prices: moving a port to
-- another region, or a region under another parent, changes what a region stands for.
-- The runtime keeps answers, lanes and the region -> ports closure in memory per
-- version, so every statement that changes regions or ports bumps the version in its
-- own transaction, as the prices triggers do. (A table of its own would cost every
-- request a second read; network changes are rare, so sharing the row costs nothing.)

CREATE FUNCTION network_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE prices_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER regions_bump_version AFTER INSERT OR UPDATE OR DELETE ON regions
    FOR EACH STATEMENT EXECUTE FUNCTION network_bump_version();
CREATE TRIGGER regions_bump_version_truncate AFTER TRUNCATE ON regions
    FOR EACH STATEMENT EXECUTE FUNCTION network_bump_version();
CREATE TRIGGER ports_bump_version AFTER INSERT OR UPDATE OR DELETE ON ports
    FOR EACH STATEMENT EXECUTE FUNCTION network_bump_version();
CREATE TRIGGER ports_bump_version_truncate AFTER TRUNCATE ON ports
    FOR EACH STATEMENT EXECUTE FUNCTION network_bump_version();
