-- 013: CHECK_FAILURE, the alert a check run raises when it fails, or when
-- it could not judge part of what it watches (a series or a storage target
-- it could not read or evaluate): a watchdog that fails must say so
-- (issue 12). The next run that judges everything resolves it. The run's
-- errors are already kept on check_runs.errors (005).
--
-- backups_alert_alert_type_check was last replaced by 006; it is replaced
-- again under the same name, with a ninth value.
ALTER TABLE backups_alert DROP CONSTRAINT backups_alert_alert_type_check;
ALTER TABLE backups_alert ADD CONSTRAINT backups_alert_alert_type_check CHECK (alert_type IN (
    'BACKUP_FAILURE', 'SIZE_DEVIATION', 'DURATION_THRESHOLD', 'STORAGE_CAPACITY',
    'INTEGRITY_FAILURE', 'RESTORE_FAILURE', 'BACKUP_MISSING', 'NOTIFICATION_FAILURE',
    'CHECK_FAILURE'));
