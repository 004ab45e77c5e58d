-- 007: indexes for the scheduled checks (shared/check).
--
-- A check run reads every series (backup type + tenant) at once with a few
-- set-based queries. They walk these indexes instead of the table:
--
-- backup_series_idx: one entry per backup, in series order, newest first,
-- carrying what the size and duration rules read. It serves, per series and
-- without touching the table (index-only scans): the loose index scan that
-- lists the series (one probe per series, not one row per backup), the last
-- 15 completed backups (the newest and its baseline), the series' first
-- backup and its newest finished one. It holds every status, not only the
-- completed ones, so that a series whose backups all failed still exists for
-- BACKUP_MISSING; failed and running entries are skipped by the status it
-- carries.
CREATE INDEX backup_series_idx ON backups_backup (backup_type, tenant_id, created_at DESC)
    INCLUDE (status, size_bytes, backup_duration_seconds, id);

-- backup_in_progress_idx: the backups still running, for the stuck-job rule.
-- Partial, so it stays as small as the number of running backups however
-- long the history grows.
CREATE INDEX backup_in_progress_idx ON backups_backup (created_at) WHERE status = 'IN_PROGRESS';

-- The open alerts the checks own, read at each run to resolve those whose
-- condition cleared.
CREATE INDEX alert_open_type_idx ON backups_alert (alert_type) WHERE status <> 'RESOLVED';
