-- 025: check reruns that cost what changed (issue 20). A rerun used to read
-- every series' stored state and judge every series, because the rules
-- that find what did not happen (a missing backup, a stuck one, an overdue
-- verification or restore test) can fire with no new report. Each series
-- state now keeps when its verdict can next change with no new report
-- (shared/check/rule, DueAt): a rerun reads and judges only the series
-- that changed, whose due time has come, or that have an open alert; the
-- hourly run still judges them all.
--
-- due_at NULL: no rule that reads the clock applies (no policy, or a
-- disabled one); '-infinity': judge it at the next run (an operator's
-- re-baseline, a series the last run could not judge).
ALTER TABLE backup_series_state ADD COLUMN due_at timestamptz;
CREATE INDEX backup_series_due_idx ON backup_series_state (due_at);

-- policy_marks: a digest of each backup type's policies as the last run
-- judged under them ({"TENANT_BACKUP": "…"}): a run that finds a type's
-- digest changed judges every series of that type, whatever their due
-- times (which the old policy set).
ALTER TABLE check_state ADD COLUMN policy_marks jsonb;

-- The stored states have no due times yet: the next run recomputes and
-- judges every series (as migrations 016 and 024 did).
UPDATE check_state SET changes_from = NULL, series_full_at = NULL;
