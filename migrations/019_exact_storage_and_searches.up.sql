-- 019: storage use exact at every check run, and searches of restores and
-- alerts on their indexes (issue 14).
--
-- A run measured storage use (a pass over every usable backup) at most once
-- an hour and judged with that figure in between, so a burst of large
-- backups, or a target nearly full, waited up to an hour for its alert.
--
-- Now the runs keep each target's use per UTC day of created_at
-- (storage_use_day) and, at every run, recompute only the days that
-- changed since the previous run, from backups_backup: the days of the rows
-- in the change feed the series states already read (change_xid at or
-- above the bookmark, migration 010), and the days a deletion left stale
-- (storage_stale_day). A report is an insert, which the change feed sees
-- with no trigger at all, so ingest pays nothing; only deletions (rare,
-- administrative) and a change of created_at (nothing in the service does
-- one) fire a trigger. Recomputing a day rather than adding deltas makes a
-- day seen twice harmless, as for the series: a row whose transaction
-- commits while a run reads is in the next run's feed too.
--
-- Once a day (shared/check's StorageFullEvery) the days are all recomputed:
-- the safety net for what neither the feed nor a trigger sees (rows
-- rewritten with triggers disabled); a TRUNCATE asks for that recompute at
-- the next run.

-- bw_storage_day is the UTC day of t, whatever the session's time zone.
CREATE FUNCTION bw_storage_day(t timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT date_bin('24 hours', t, timestamptz '2000-01-01 00:00:00+00') $$;

-- Per UTC day, the bytes and the number of the usable backups (COMPLETED or
-- VERIFIED) created that day with a path at each target: what
-- shared/store's storageSQL sums over the whole catalogue. numeric: a sum
-- cannot overflow. Written only by check runs, under the check lock.
CREATE TABLE storage_use_day (
    day           timestamptz PRIMARY KEY, -- the UTC day's start
    local_bytes   numeric NOT NULL,
    local_backups bigint NOT NULL,
    r2_bytes      numeric NOT NULL,
    r2_backups    bigint NOT NULL,
    b2_bytes      numeric NOT NULL,
    b2_backups    bigint NOT NULL
);

-- Days whose totals a write made stale without leaving a row in the change
-- feed: a deleted backup's day, or the day a backup's created_at moved
-- from. Insert-only for writers (no lock on a shared row); the next run
-- recomputes and removes them.
CREATE TABLE storage_stale_day (
    day timestamptz NOT NULL
);

CREATE FUNCTION storage_use_deleted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO storage_stale_day (day)
    SELECT DISTINCT bw_storage_day(created_at) FROM gone
    WHERE status IN ('COMPLETED', 'VERIFIED') AND (local_path IS NOT NULL OR r2_path IS NOT NULL OR b2_path IS NOT NULL);
    RETURN NULL;
END
$$;
CREATE TRIGGER storage_use_delete AFTER DELETE ON backups_backup
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION storage_use_deleted();

CREATE FUNCTION storage_use_moved() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO storage_stale_day (day) VALUES (bw_storage_day(OLD.created_at));
    RETURN NULL;
END
$$;
-- Fires only for an UPDATE that sets created_at, and then only if it moved.
CREATE TRIGGER storage_use_move AFTER UPDATE OF created_at ON backups_backup
    FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION storage_use_moved();

CREATE FUNCTION storage_use_truncated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE check_state SET storage_at = NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER storage_use_truncate AFTER TRUNCATE ON backups_backup
    FOR EACH STATEMENT EXECUTE FUNCTION storage_use_truncated();

-- The measured figure the bookmark kept is gone; storage_at is now when
-- the day totals were last all recomputed, and NULL makes the next run
-- compute them.
ALTER TABLE check_state DROP COLUMN storage;
UPDATE check_state SET storage_at = NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON storage_use_day TO backupwatch_app, backupwatch_all;
GRANT SELECT, INSERT, DELETE ON storage_stale_day TO backupwatch_app, backupwatch_all;

-- A tenant's restores in list order: a tenant-scoped list says its tenant
-- (store.RestoreFilter.Scope) and walks this, as backups and alerts walk
-- theirs; row-level security keeps q's ILIKE off the trigram indexes there,
-- and without it every restore was read (bench/README.md).
CREATE INDEX restore_tenant_started_idx ON backups_restore_log (tenant_id, started_at DESC, id DESC);

-- Reading alerts and restores in the all-tenants scope, as 011 did for
-- backups: their all_tenants policy (bw_scope_all()) is a security barrier,
-- so q's ILIKE, which is not LEAKPROOF, could use no trigram index (017)
-- and every search read the whole table (300 ms at 100,000 alerts). A read
-- policy of `true` folds the barrier away; writing still requires the
-- scope (all_tenants), and a tenant's scope still runs under tenant_scope.
CREATE POLICY all_tenants_read ON backups_alert FOR SELECT TO backupwatch_all USING (true);
CREATE POLICY all_tenants_read ON backups_restore_log FOR SELECT TO backupwatch_all USING (true);

-- Lists that walked most of their table for one page (bench, lists): a
-- restore status or mode (restore_status_idx had no order; PITR restores
-- are one in a few hundred), and verified=true backups (one in twenty; 017
-- indexed the unverified ones only). Restores are few and seldom written;
-- a backup enters the verified index when it is verified, not when it is
-- reported.
CREATE INDEX restore_status_started_idx ON backups_restore_log (status, started_at DESC, id DESC);
CREATE INDEX restore_mode_started_idx ON backups_restore_log (restore_mode, started_at DESC, id DESC);
CREATE INDEX backup_verified_created_idx ON backups_backup (created_at DESC, id DESC) WHERE verified_at IS NOT NULL;

-- No JIT compilation for the service's sessions. After five executions of a
-- prepared statement PostgreSQL may plan it generically, and the generic
-- plan of a count or a search prices ILIKE $n or status = $n as a read of
-- much of the table: past jit_above_cost, every execution then spent
-- 200–800 ms compiling a statement that reads a few hundred rows (bench,
-- counts). The service's statements are short; none gains from JIT.
ALTER ROLE backupwatch_app SET jit = off;
