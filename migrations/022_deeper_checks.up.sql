-- 022: deeper checks (issue 18, API.md 1.1 "Policies and alert types for
-- deeper checks"): WAL continuity and the recovery window, redundancy,
-- overdue verification and restore tests, consecutive failures.

-- The alert types the new rules raise. backups_alert_alert_type_check was
-- last replaced by 013; it is replaced again under the same name.
ALTER TABLE backups_alert DROP CONSTRAINT backups_alert_alert_type_check;
ALTER TABLE backups_alert ADD CONSTRAINT backups_alert_alert_type_check CHECK (alert_type IN (
    'BACKUP_FAILURE', 'SIZE_DEVIATION', 'DURATION_THRESHOLD', 'STORAGE_CAPACITY',
    'INTEGRITY_FAILURE', 'RESTORE_FAILURE', 'BACKUP_MISSING', 'NOTIFICATION_FAILURE',
    'CHECK_FAILURE', 'WAL_GAP', 'PITR_WINDOW', 'REDUNDANCY', 'VERIFICATION_OVERDUE',
    'RESTORE_TEST_OVERDUE'));

-- The policy fields of version 1.1. NULL turns a rule off where it has an
-- off; failure_threshold and copy_grace_seconds always have a value.
ALTER TABLE backup_policies
    ADD COLUMN required_locations            text[]  NOT NULL DEFAULT '{}'
        CHECK (required_locations <@ ARRAY['local', 'r2', 'b2']::text[]),
    ADD COLUMN copy_grace_seconds            integer NOT NULL DEFAULT 21600 CHECK (copy_grace_seconds >= 0),
    ADD COLUMN max_unverified_seconds        integer CHECK (max_unverified_seconds > 0),
    ADD COLUMN min_verified_fulls            integer CHECK (min_verified_fulls > 0),
    ADD COLUMN restore_test_interval_seconds integer CHECK (restore_test_interval_seconds > 0),
    ADD COLUMN failure_threshold             integer NOT NULL DEFAULT 1 CHECK (failure_threshold BETWEEN 1 AND 100),
    ADD COLUMN pitr_window_seconds           integer CHECK (pitr_window_seconds > 0);

-- What the check runs know of each WAL series' continuity (shared/check,
-- wal.go): the runs of contiguous archived segments, so that a run merges
-- the segments archived since the previous one instead of reading a year
-- of them (a million rows at two a minute). A segment is numbered across
-- log files (xlogid * segments per xlogid + segment); runs is a flat array
-- of (first, first timeline, first archived at (epoch µs), last, last
-- timeline, last archived at) per run, ascending. WAL_ARCHIVE backups
-- have no tenant, so the table has no tenant column and only the
-- all-tenants scope, which the check runs use, reads it.
CREATE TABLE wal_series_state (
    cluster      text PRIMARY KEY, -- metadata.cluster, '' for none
    segment_size bigint NOT NULL,
    runs         bigint[] NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON wal_series_state TO backupwatch_all;
-- Restores of mode PITR check their target against the window in any scope.
GRANT SELECT ON wal_series_state TO backupwatch_app;

-- When the WAL states were last rebuilt from every segment: once a day
-- (check.Config.WALFullEvery), after a backup is deleted, and when there
-- is no bookmark; the runs in between merge what was archived since.
ALTER TABLE check_state ADD COLUMN wal_full_at timestamptz;

-- Base backups for point-in-time recovery (FULL_DATABASE with
-- metadata.wal_start), read at every run: a few hundred rows a year.
CREATE INDEX backup_base_idx ON backups_backup (created_at)
    WHERE backup_type = 'FULL_DATABASE' AND metadata ? 'wal_start';
