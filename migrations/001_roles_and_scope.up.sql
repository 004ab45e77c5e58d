-- 001: the runtime role and the tenant scope.
--
-- The service runs as backupwatch_app: a role that owns nothing, is not a
-- superuser and has no BYPASSRLS, so every row it reads or writes passes the
-- row-level security policies below. Migrations run as the owner (the master
-- user in RDS, postgres locally). Roles are cluster-wide, hence IF NOT EXISTS.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'backupwatch_app') THEN
        CREATE ROLE backupwatch_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
END
$$;

-- The scope of a transaction is app.tenant_id, set per transaction with
-- set_config('app.tenant_id', ..., true): a tenant's UUID, or '*' for a key
-- without a tenant scope (and for the system's own work: checks, relay).
-- Unset or anything else means no rows: policies fail closed.
CREATE FUNCTION bw_scope_all() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.tenant_id', true), '') = '*' $$;

CREATE FUNCTION bw_scope_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE
            WHEN current_setting('app.tenant_id', true) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN current_setting('app.tenant_id', true)::uuid
        END
    $$;

-- bw_visible says whether a row of tenant t is in the current scope.
-- Tenant-less rows (t IS NULL) are visible only to the all-tenants scope.
CREATE FUNCTION bw_visible(t uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT bw_scope_all() OR t = bw_scope_tenant() $$;
