-- 009: `q` searches that use an index, through a role for the all-tenants
-- scope (issue 7, bench/README.md).
--
-- Why a role. Every policy is `bw_visible(tenant_id)`, a security barrier:
-- PostgreSQL evaluates it before any condition of the query that is not
-- LEAKPROOF, and only a superuser can mark a function LEAKPROOF. ILIKE and
-- the trigram operators are not, so with the policy in place no index on
-- filename or notes could serve `q`: every search read the whole table
-- (480 ms on a million backups). A policy that says `true` is no barrier
-- at all; the planner folds `bw_visible(...) OR true` away.
--
-- So the all-tenants scope is now also a role. backupwatch_all owns nothing,
-- cannot log in, is not a superuser and cannot bypass RLS; it holds the same
-- table privileges as backupwatch_app and, on every table with a tenant
-- policy, a second policy `TO backupwatch_all USING (true)`. The service
-- enters the all-tenants scope with set_config('app.tenant_id', '*', true)
-- and set_config('role', 'backupwatch_all', true), and a tenant's scope with
-- the tenant's id and role backupwatch_app, both transaction-local
-- (store.SetScope). Who may see everything is unchanged: the runtime role
-- could always set '*'; now it also switches role to do it. A tenant's
-- scope still runs as backupwatch_app under tenant_scope alone, and a
-- transaction that sets nothing still sees nothing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'backupwatch_all') THEN
        CREATE ROLE backupwatch_all NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT;
    END IF;
END
$$;
-- A member role that inherits also gets the policies of the roles it is a
-- member of, so backupwatch_app must not inherit: it can switch to
-- backupwatch_all, but until it does, only tenant_scope applies to it. (It
-- holds its own privileges directly; it is a member of nothing else. On
-- PostgreSQL 16+ the grant takes INHERIT FALSE from this attribute.)
ALTER ROLE backupwatch_app NOINHERIT;
GRANT backupwatch_all TO backupwatch_app;

-- The same table privileges as the runtime role, and the policy that lets it
-- see every tenant's rows, wherever a tenant policy stands. A later
-- migration that adds a table grants it to both roles, and gives it both
-- policies if it holds tenants' rows (010 does).
DO $$
DECLARE
    g record;
    p record;
BEGIN
    FOR g IN SELECT table_name, string_agg(privilege_type, ', ') AS privs
             FROM information_schema.role_table_grants
             WHERE grantee = 'backupwatch_app' AND table_schema = 'public'
             GROUP BY table_name
    LOOP
        EXECUTE format('GRANT %s ON %I TO backupwatch_all', g.privs, g.table_name);
    END LOOP;
    FOR p IN SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = 'tenant_scope'
    LOOP
        EXECUTE format('CREATE POLICY all_tenants ON %I TO backupwatch_all USING (true) WITH CHECK (true)', p.tablename);
    END LOOP;
END
$$;

-- The indexes `q` uses: trigrams for a substring of the filename or notes
-- (ILIKE '%…%'), and the checksum's btree in pattern order for a prefix
-- (LIKE '…%', whatever the database's collation). pg_trgm is a trusted
-- extension (PostgreSQL 13+) that RDS and Aurora provide.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX backup_filename_trgm_idx ON backups_backup USING gin (filename gin_trgm_ops);
CREATE INDEX backup_notes_trgm_idx ON backups_backup USING gin (notes gin_trgm_ops);
CREATE INDEX backup_checksum_prefix_idx ON backups_backup (checksum text_pattern_ops);
