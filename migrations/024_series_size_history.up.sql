-- 024: the size rule reads each series' rhythm (issue 21): weekly cycles,
-- monthly spikes, growth and steps. It needs about two months of sizes
-- with their times, where it kept the last 15 sizes alone.
--
-- sizes (016) now holds up to 65 sizes (the newest backup's and the size
-- rule's history before it, backup.SizeKept: the last 70 days, at least 15
-- backups, at most 65); ages holds, for each, how many seconds before the
-- newest backup it was made (0 for the newest): 4 bytes a backup, which is
-- all the rule reads of its time. baseline_from is when the backup was
-- made from which the size rule's baseline starts afresh: set by an
-- operator's re-baseline (POST /v1/alerts/{id}/resolve with "rebaseline")
-- or by a check run when a step has held for 5 backups; recomputing a
-- series' history keeps it.
ALTER TABLE backup_series_state
    ADD COLUMN ages          integer[] NOT NULL DEFAULT '{}',
    ADD COLUMN baseline_from timestamptz;

-- The stored histories have no ages yet: the next run recomputes every
-- series (as migration 016 did), and GET /v1/status reads the catalogue
-- until then.
UPDATE check_state SET changes_from = NULL, series_full_at = NULL;
