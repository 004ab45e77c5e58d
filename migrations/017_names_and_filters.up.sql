-- 017: names beside ids, and the indexes of version 1.1's filters, search
-- and counts (issue 14; API.md 1.1, "Names beside ids", "More filters,
-- search and counts").

-- Users' names, for the objects that name them. A user's name appears
-- wherever an object that carries the user's id is visible (staff who
-- acknowledged a tenant's alert are named to that tenant), but users are
-- under row-level security (011): a tenant's scope cannot read staff rows,
-- and must still not list them or read their e-mail addresses.
--
-- So names are read through this one narrow path: given ids, it returns
-- (id, name) and nothing else. It runs as its owner (SECURITY DEFINER),
-- backupwatch_names: a role that cannot log in, may read only the id and
-- name columns of users, and whose one policy there lets it read every
-- row. (A SET app.tenant_id clause on the function would have done the
-- same, but PostgreSQL lets only superusers put a custom setting in a
-- function's SET clause, and RDS's master user is none.) search_path is
-- fixed, pg_catalog first, then public (users' policies call bw_visible
-- and its helpers unqualified), where only the schema owner may create
-- objects: nothing of the caller's can stand in for users or the
-- operators. It only answers ids the caller already holds: user ids are
-- random (v4), and the API hands them out only on objects the caller can
-- see. Callers: store.Names.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'backupwatch_names') THEN
        CREATE ROLE backupwatch_names NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
END
$$;
-- The migrating owner hands the function to the role, which takes membership.
GRANT backupwatch_names TO CURRENT_USER;
GRANT SELECT (id, name) ON users TO backupwatch_names;
CREATE POLICY names_only ON users FOR SELECT TO backupwatch_names USING (true);
CREATE FUNCTION bw_user_names(ids uuid[]) RETURNS TABLE (id uuid, name text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$ SELECT u.id, u.name::text FROM public.users u WHERE u.id = ANY (ids) $$;
-- Taking a function in a schema needs CREATE there, for that moment only.
GRANT CREATE ON SCHEMA public TO backupwatch_names;
ALTER FUNCTION bw_user_names(uuid[]) OWNER TO backupwatch_names;
REVOKE CREATE ON SCHEMA public FROM backupwatch_names;
REVOKE ALL ON FUNCTION bw_user_names(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bw_user_names(uuid[]) TO backupwatch_app, backupwatch_all;

-- Backups' filters. Each keyset walk ends in (created_at DESC, id DESC), so
-- that a page of one creator's backups walks its index in list order;
-- this one also serves the foreign key, so the plain index goes.
CREATE INDEX backup_created_by_created_idx ON backups_backup (created_by_id, created_at DESC, id DESC)
    WHERE created_by_id IS NOT NULL;
DROP INDEX backup_created_by_idx;
-- verified=false: the backups never verified, a minority once verification
-- runs, are walked here; those verified but with an open mismatch come
-- through integrity_mismatches' primary key.
CREATE INDEX backup_unverified_created_idx ON backups_backup (created_at DESC, id DESC) WHERE verified_at IS NULL;
-- min_size / max_size.
CREATE INDEX backup_size_idx ON backups_backup (size_bytes) WHERE size_bytes IS NOT NULL;

-- Restores: initiated_by, and q in reason, notes and error_message.
CREATE INDEX restore_initiated_started_idx ON backups_restore_log (initiated_by_id, started_at DESC, id DESC)
    WHERE initiated_by_id IS NOT NULL;
CREATE INDEX restore_reason_trgm_idx ON backups_restore_log USING gin (reason gin_trgm_ops);
CREATE INDEX restore_notes_trgm_idx ON backups_restore_log USING gin (notes gin_trgm_ops);
CREATE INDEX restore_error_trgm_idx ON backups_restore_log USING gin (error_message gin_trgm_ops);

-- Alerts: restore_log_id, fingerprint, and q in message and resolution_notes.
CREATE INDEX alert_restore_idx ON backups_alert (restore_log_id) WHERE restore_log_id IS NOT NULL;
CREATE INDEX alert_fingerprint_created_idx ON backups_alert (fingerprint, created_at DESC, id DESC);
CREATE INDEX alert_message_trgm_idx ON backups_alert USING gin (message gin_trgm_ops);
CREATE INDEX alert_resolution_trgm_idx ON backups_alert USING gin (resolution_notes gin_trgm_ops);
