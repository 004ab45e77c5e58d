-- 018: deleting backups from the catalogue, the audit trail of
-- administrative changes, and alert routing as a setting (issue 14).

-- Deleting a backup (DELETE /v1/backups/{id}, admin). The runtime roles may
-- now delete catalogue rows; the policies (tenant_scope, and 011's
-- all_tenants_delete) already say which.
GRANT DELETE ON backups_backup TO backupwatch_app, backupwatch_all;

-- A restore keeps what it restored from after the backup is deleted: a
-- snapshot {"id", "backup_type", "filename", "created_at"} taken when the
-- restore is recorded (the catalogue entry is frozen by then: a restorable
-- backup is COMPLETED or VERIFIED), and backup_id goes NULL with the row.
ALTER TABLE backups_restore_log ADD COLUMN backup_snapshot jsonb
    CHECK (backup_snapshot IS NULL OR jsonb_typeof(backup_snapshot) = 'object');
UPDATE backups_restore_log r
    SET backup_snapshot = jsonb_build_object('id', b.id, 'backup_type', b.backup_type, 'filename', b.filename,
        'created_at', to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    FROM backups_backup b WHERE b.id = r.backup_id;
ALTER TABLE backups_restore_log ALTER COLUMN backup_snapshot SET NOT NULL;
ALTER TABLE backups_restore_log ALTER COLUMN backup_id DROP NOT NULL;
ALTER TABLE backups_restore_log DROP CONSTRAINT backups_restore_log_backup_id_fkey;
ALTER TABLE backups_restore_log ADD CONSTRAINT backups_restore_log_backup_id_fkey
    FOREIGN KEY (backup_id) REFERENCES backups_backup (id) ON DELETE SET NULL;
-- Alerts keep ON DELETE SET NULL (004): an alert's backup_id names a
-- backup that can be read, or none; its message and details still name
-- the file, and the audit entry of the deletion keeps the whole row.
-- integrity_mismatches rows go with their backup (014, CASCADE); the
-- deleting request restates or resolves the alerts they fed first.

-- The audit trail: one row per administrative change, written in the
-- change's transaction (shared/audit). actor_name is the actor's name at
-- the time of the change, kept so that the entry reads the same to every
-- scope that sees it and after a rename. Rows never hold a secret (no key,
-- key hash or credential) and cannot be changed or deleted: the runtime
-- roles may only read and append.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    action      varchar(40)  NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    actor_id    uuid,
    actor_name  varchar(200),
    via         varchar(10)  NOT NULL CHECK (via IN ('api', 'console', 'cli', 'import', 'bootstrap')),
    key_prefix  varchar(16),
    tenant_id   uuid,
    object_type varchar(40)  NOT NULL,
    object_id   varchar(200),
    before      jsonb,
    after       jsonb,
    created_at  timestamptz  NOT NULL,
    CONSTRAINT audit_actor_named CHECK ((actor_id IS NULL) = (actor_name IS NULL))
);
CREATE INDEX audit_created_idx        ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_action_created_idx ON audit_log (action, created_at DESC, id DESC);
CREATE INDEX audit_actor_created_idx  ON audit_log (actor_id, created_at DESC, id DESC);
CREATE INDEX audit_tenant_created_idx ON audit_log (tenant_id, created_at DESC, id DESC);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON audit_log USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
CREATE POLICY all_tenants ON audit_log TO backupwatch_all USING (bw_scope_all()) WITH CHECK (bw_scope_all());
GRANT SELECT, INSERT ON audit_log TO backupwatch_app, backupwatch_all;

-- Deployment-wide settings, one row per name; today only 'routing' (which
-- channels each severity reaches; no row: DESIGN.md's table). Every scope
-- reads them (a tenant's failed backup is routed too); only the
-- all-tenants scope writes them.
CREATE TABLE settings (
    name       varchar(40) PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL
);
ALTER TABLE settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE settings FORCE ROW LEVEL SECURITY;
CREATE POLICY read_all ON settings FOR SELECT USING (true);
CREATE POLICY write_all_tenants_insert ON settings FOR INSERT WITH CHECK (bw_scope_all());
CREATE POLICY write_all_tenants_update ON settings FOR UPDATE USING (bw_scope_all()) WITH CHECK (bw_scope_all());
GRANT SELECT, INSERT, UPDATE ON settings TO backupwatch_app, backupwatch_all;
