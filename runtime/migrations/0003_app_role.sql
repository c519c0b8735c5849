-- The login role the runtime uses on RDS (`rates_app`, signing in with IAM database
-- authentication tokens), with what `serve` and `work` need and nothing more: it reads
-- and writes rows, but cannot create, alter or drop tables. Migrations run as the
-- master user (the migration Job), which owns every table.
--
-- Roles are cluster-wide and several databases of one cluster (tests, review copies)
-- migrate concurrently, so creating the role tolerates a concurrent creator.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rates_app') THEN
        BEGIN
            -- No password: on RDS it signs in with IAM tokens (rds_iam below); a local
            -- cluster trusts local connections or gets a password from its operator.
            CREATE ROLE rates_app LOGIN;
        EXCEPTION
            -- A concurrent migration created it first: 42710, or 23505 when both
            -- inserts raced on pg_authid's unique index.
            WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;

    -- `rds_iam` exists only on RDS; membership makes RDS accept IAM tokens for this
    -- user (and refuse passwords). A plain PostgreSQL has no such role.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        GRANT rds_iam TO rates_app;
    END IF;

    -- CONNECT, and TEMPORARY for the worker's `COPY` into a temporary table.
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO rates_app', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO rates_app', current_schema());

    -- Before PostgreSQL 15 every role may create tables in `public`; the runtime's role
    -- must not. (A no-op on 15 and later, a warning when the schema has another owner.)
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', current_schema());

    -- Rows of every table, sequences for defaults, functions (the prices triggers).
    -- Advisory locks and LISTEN/NOTIFY need no grant.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO rates_app', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO rates_app', current_schema());
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO rates_app', current_schema());

    -- The migration history is the migrating user's: readable, never writable.
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON TABLE %I._sqlx_migrations FROM rates_app', current_schema());

    -- Tables, sequences and functions that later migrations create (as this same
    -- migrating user) get the same grants without a migration having to repeat them.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rates_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO rates_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT EXECUTE ON FUNCTIONS TO rates_app', current_schema());
END
$$;
