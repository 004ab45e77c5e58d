-- 023: silences and reminders (issue 18, API.md 1.1 "Routing, silences").
--
-- A silence holds the notifications of the alerts its matchers match while
-- it is in force (starts_at <= now < ends_at, and not expired): they are
-- still opened, updated and resolved, but the relay does not send them.
-- Every matcher is optional, at least one is given; an alert matches when
-- all given ones do. backup_type matches the series type that an alert's
-- fingerprint names (<type>:<backup_type>:...). DELETE /v1/silences/{id}
-- sets expired_at: the silence ends then, whatever ends_at says.
CREATE TABLE silences (
    id            uuid PRIMARY KEY,
    tenant_id     uuid REFERENCES tenants (id) ON DELETE CASCADE,
    backup_type   varchar(20) CHECK (backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP', 'WAL_ARCHIVE', 'CONFIGURATION')),
    alert_type    varchar(30),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    comment       text        NOT NULL DEFAULT '',
    created_by_id uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    expired_at    timestamptz,
    CONSTRAINT silence_has_matcher CHECK (tenant_id IS NOT NULL OR backup_type IS NOT NULL OR alert_type IS NOT NULL),
    CONSTRAINT silence_ends_after_start CHECK (ends_at > starts_at AND ends_at <= starts_at + interval '30 days'),
    -- The watchdog's own alerts are never silenced.
    CONSTRAINT silence_not_own_alerts CHECK (alert_type IS NULL OR alert_type NOT IN ('CHECK_FAILURE', 'NOTIFICATION_FAILURE'))
);
-- The silences in force are those not yet ended: the relay and every alert
-- read look them up by ends_at.
CREATE INDEX silences_ends_idx ON silences (ends_at) WHERE expired_at IS NULL;
CREATE INDEX silences_created_idx ON silences (created_at DESC, id DESC);

-- A tenant's key sees its tenant's silences and those without a tenant
-- (they silence its alerts too, and its alerts say "silenced"), and writes
-- only its tenant's; the all-tenants scope sees and writes every one. No
-- scope set, no rows.
ALTER TABLE silences ENABLE ROW LEVEL SECURITY;
ALTER TABLE silences FORCE ROW LEVEL SECURITY;
CREATE POLICY read_scope ON silences FOR SELECT
    USING (bw_visible(tenant_id) OR (tenant_id IS NULL AND bw_scope_tenant() IS NOT NULL));
CREATE POLICY write_scope_insert ON silences FOR INSERT WITH CHECK (bw_visible(tenant_id));
CREATE POLICY write_scope_update ON silences FOR UPDATE USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
GRANT SELECT, INSERT, UPDATE ON silences TO backupwatch_app, backupwatch_all;

-- The outbox learns two things.
--
-- SILENCED: the relay held the row because a silence in force matched its
-- alert; it is final, like HELD (015, the SMS cap), and is not sent. When
-- no silence matches the alert any more, the relay releases its SILENCED
-- rows (silence_released_at) and, if the alert is still ACTIVE, writes one
-- notification at its current severity: held, not dropped.
--
-- reminder: an ACTIVE ERROR or CRITICAL alert is notified again every
-- REMINDER_INTERVAL (the check run writes the rows).
ALTER TABLE alert_notifications DROP CONSTRAINT alert_notifications_state_check;
ALTER TABLE alert_notifications ADD CONSTRAINT alert_notifications_state_check
    CHECK (state IN ('PENDING', 'SENT', 'SKIPPED', 'FAILED', 'HELD', 'SILENCED'));
ALTER TABLE alert_notifications DROP CONSTRAINT alert_notifications_event_check;
ALTER TABLE alert_notifications ADD CONSTRAINT alert_notifications_event_check
    CHECK (event IN ('opened', 'escalated', 'resolved', 'reminder'));
ALTER TABLE alert_notifications ADD COLUMN silence_released_at timestamptz;
-- What each relay pass looks at: the held rows not yet released.
CREATE INDEX alert_notifications_silenced_idx ON alert_notifications (alert_id)
    WHERE state = 'SILENCED' AND silence_released_at IS NULL;
-- What a check run looks at for reminders: each open alert's latest
-- notification that was not a resolution.
CREATE INDEX alert_notifications_last_idx ON alert_notifications (alert_id, created_at DESC)
    WHERE event <> 'resolved';
