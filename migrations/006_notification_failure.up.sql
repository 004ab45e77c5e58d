-- 006: NOTIFICATION_FAILURE, the alert the notification relay raises when an
-- SNS channel keeps refusing its messages and a notification runs out of
-- attempts. It adds an eighth value to the API's alert_type enum.
--
-- The constraint was declared inline in 004, so PostgreSQL named it
-- backups_alert_alert_type_check; it is replaced under the same name.
ALTER TABLE backups_alert DROP CONSTRAINT backups_alert_alert_type_check;
ALTER TABLE backups_alert ADD CONSTRAINT backups_alert_alert_type_check CHECK (alert_type IN (
    'BACKUP_FAILURE', 'SIZE_DEVIATION', 'DURATION_THRESHOLD', 'STORAGE_CAPACITY',
    'INTEGRITY_FAILURE', 'RESTORE_FAILURE', 'BACKUP_MISSING', 'NOTIFICATION_FAILURE'));
