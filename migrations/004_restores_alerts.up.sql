-- 004: the restore audit trail, alerts and the notification outbox.

-- The seed's BackupRestoreLog. Beyond the seed: tenant_id, the tenant of the
-- restored backup, copied at insert so that row-level security can scope the
-- audit trail without a join.
CREATE TABLE backups_restore_log (
    id               uuid PRIMARY KEY,
    backup_id        uuid        NOT NULL REFERENCES backups_backup (id) ON DELETE RESTRICT,
    initiated_by_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    tenant_ids       jsonb CHECK (tenant_ids IS NULL OR jsonb_typeof(tenant_ids) = 'array'),
    restore_mode     varchar(10) NOT NULL CHECK (restore_mode IN ('FULL', 'MERGE', 'PITR')),
    target_timestamp timestamptz,
    status           varchar(20) NOT NULL DEFAULT 'IN_PROGRESS'
        CHECK (status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    error_message    text,
    rows_restored    bigint CHECK (rows_restored >= 0),
    duration_seconds integer CHECK (duration_seconds >= 0),
    reason           text        NOT NULL CHECK (btrim(reason) <> ''),
    notes            text        NOT NULL DEFAULT '',
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    tenant_id        uuid REFERENCES tenants (id) ON DELETE RESTRICT,

    CONSTRAINT restore_pitr_target CHECK ((restore_mode = 'PITR') = (target_timestamp IS NOT NULL)),
    CONSTRAINT restore_failed_error CHECK (status <> 'FAILED' OR error_message IS NOT NULL),
    CONSTRAINT restore_final_completed CHECK ((status = 'IN_PROGRESS') = (completed_at IS NULL))
);

-- The seed's three indexes (with id for keyset pagination).
CREATE INDEX restore_started_idx        ON backups_restore_log (started_at DESC, id DESC);
CREATE INDEX restore_status_idx         ON backups_restore_log (status);
CREATE INDEX restore_backup_started_idx ON backups_restore_log (backup_id, started_at DESC, id DESC);
-- ?tenant_id= filters on tenant_ids @> '["<uuid>"]'.
CREATE INDEX restore_tenant_ids_idx     ON backups_restore_log USING gin (tenant_ids jsonb_path_ops);

ALTER TABLE backups_restore_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE backups_restore_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backups_restore_log USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

-- The seed's BackupAlert. Beyond the seed: fingerprint (the condition an
-- alert stands for; at most one unresolved alert each), last_seen_at and
-- tenant_id.
CREATE TABLE backups_alert (
    id                    uuid PRIMARY KEY,
    alert_type            varchar(30) NOT NULL CHECK (alert_type IN (
        'BACKUP_FAILURE', 'SIZE_DEVIATION', 'DURATION_THRESHOLD', 'STORAGE_CAPACITY',
        'INTEGRITY_FAILURE', 'RESTORE_FAILURE', 'BACKUP_MISSING')),
    severity              varchar(10) NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    backup_id             uuid REFERENCES backups_backup (id) ON DELETE SET NULL,
    restore_log_id        uuid REFERENCES backups_restore_log (id) ON DELETE SET NULL,
    message               text        NOT NULL,
    details               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    notification_channels jsonb       NOT NULL DEFAULT '[]'::jsonb,
    notification_sent_at  timestamptz,
    status                varchar(20) NOT NULL DEFAULT 'ACTIVE'
        CHECK (status IN ('ACTIVE', 'ACKNOWLEDGED', 'RESOLVED')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    acknowledged_at       timestamptz,
    acknowledged_by_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    resolved_at           timestamptz,
    resolved_by_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    resolution_notes      text        NOT NULL DEFAULT '',
    fingerprint           varchar(300) NOT NULL,
    last_seen_at          timestamptz NOT NULL DEFAULT now(),
    tenant_id             uuid REFERENCES tenants (id) ON DELETE RESTRICT,

    CONSTRAINT alert_resolved_time CHECK ((status = 'RESOLVED') = (resolved_at IS NOT NULL))
);

-- The seed's four indexes (with id for keyset pagination).
CREATE INDEX alert_type_created_idx    ON backups_alert (alert_type, created_at DESC, id DESC);
CREATE INDEX alert_severity_status_idx ON backups_alert (severity, status);
CREATE INDEX alert_status_created_idx  ON backups_alert (status, created_at DESC, id DESC);
CREATE INDEX alert_created_idx         ON backups_alert (created_at DESC, id DESC);
-- At most one unresolved alert per condition, even under concurrency.
CREATE UNIQUE INDEX alert_open_fingerprint_key ON backups_alert (fingerprint) WHERE status <> 'RESOLVED';
CREATE INDEX alert_backup_idx ON backups_alert (backup_id) WHERE backup_id IS NOT NULL;
CREATE INDEX alert_tenant_created_idx ON backups_alert (tenant_id, created_at DESC, id DESC);

ALTER TABLE backups_alert ENABLE ROW LEVEL SECURITY;
ALTER TABLE backups_alert FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backups_alert USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

-- The outbox: one row per SNS channel for each opened, escalated or resolved
-- alert, written in the alert's transaction and published by the relay.
-- state: PENDING until SENT; SKIPPED when the channel has no topic;
-- FAILED when it ran out of attempts. severity is the alert's at the event.
CREATE TABLE alert_notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        uuid        NOT NULL REFERENCES backups_alert (id) ON DELETE CASCADE,
    channel         varchar(10) NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    event           varchar(10) NOT NULL CHECK (event IN ('opened', 'escalated', 'resolved')),
    severity        varchar(10) NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    state           varchar(10) NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SENT', 'SKIPPED', 'FAILED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sns_message_id  text,
    tenant_id       uuid REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX alert_notifications_pending_idx ON alert_notifications (next_attempt_at, id) WHERE state = 'PENDING';
CREATE INDEX alert_notifications_alert_idx ON alert_notifications (alert_id);

ALTER TABLE alert_notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON alert_notifications USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

GRANT SELECT, INSERT, UPDATE ON backups_restore_log, backups_alert, alert_notifications TO backupwatch_app;
