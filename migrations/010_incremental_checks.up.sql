-- 010: check runs that read what changed, not the whole history (issue 7,
-- bench/README.md, check run).
--
-- A run used to read every series' recent history from backups_backup: 40,000
-- index probes on a million backups, 400 ms every five minutes to learn that
-- almost nothing changed. Now each series' history (what the rules read of
-- it: its first backup, newest finished status and newest completed backups)
-- is kept in backup_series_state, and a run recomputes only the series whose
-- backups changed since the previous run.
--
-- "Changed since" is told by transaction ids, not clocks, so that a backup
-- whose transaction commits after a run has begun cannot be missed.
-- change_xid is the id of the transaction that last wrote the row (the
-- default on INSERT, the trigger below on every UPDATE). A run records
-- pg_snapshot_xmin of its snapshot: every transaction below it had ended
-- when the run read, so the next run need only look at rows whose change_xid
-- is at or above it. Seeing a change twice is harmless: a changed series is
-- recomputed from backups_backup, not patched. xid8 does not wrap around.
ALTER TABLE backups_backup ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX backup_change_idx ON backups_backup (change_xid);

CREATE FUNCTION backup_touch_change_xid() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER backup_change_xid BEFORE UPDATE ON backups_backup
    FOR EACH ROW EXECUTE FUNCTION backup_touch_change_xid();

-- One row per series: its history as the check runner encodes it
-- (shared/check, state.go), written and read only by check runs. It holds
-- tenants' data (sizes, filenames), so it has their policies.
CREATE TABLE backup_series_state (
    series_key  text PRIMARY KEY,
    backup_type varchar(20) NOT NULL,
    tenant_id   uuid REFERENCES tenants (id) ON DELETE CASCADE,
    history     bytea NOT NULL
);
ALTER TABLE backup_series_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE backup_series_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backup_series_state USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
CREATE POLICY all_tenants ON backup_series_state TO backupwatch_all USING (true) WITH CHECK (true);

-- The runs' bookmark, one row: the xmin of the last run that read the
-- changes, when the series were last all recomputed (the hourly safety net
-- for what no transaction id records, such as a row deleted by hand), and
-- the storage use last measured, with when.
CREATE TABLE check_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    changes_from       xid8,
    series_full_at     timestamptz,
    storage            jsonb,
    storage_at         timestamptz
);
INSERT INTO check_state DEFAULT VALUES;

GRANT SELECT, INSERT, UPDATE, DELETE ON backup_series_state TO backupwatch_app, backupwatch_all;
GRANT SELECT, UPDATE ON check_state TO backupwatch_app, backupwatch_all;

-- Runs delete their own records once past check.RunRetention.
GRANT DELETE ON check_runs TO backupwatch_app, backupwatch_all;
