-- 003: the backup catalogue, with the seed's table, columns and indexes.
--
-- Column names are Django's (foreign keys end in _id) so the service can run
-- against the database of the app it replaces. Beyond the seed: updated_at.
-- size_bytes and checksum are nullable because an IN_PROGRESS backup has
-- neither yet; the completed_requirements constraint makes them mandatory
-- once the backup is COMPLETED or VERIFIED.
CREATE TABLE backups_backup (
    id                      uuid PRIMARY KEY,
    backup_type             varchar(20)  NOT NULL
        CHECK (backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP', 'WAL_ARCHIVE', 'CONFIGURATION')),
    tenant_id               uuid REFERENCES tenants (id) ON DELETE RESTRICT,
    filename                varchar(255) NOT NULL CHECK (btrim(filename) <> ''),
    size_bytes              bigint CHECK (size_bytes >= 0),
    checksum                varchar(64) CHECK (checksum ~ '^[0-9a-f]{64}$'),
    local_path              varchar(500),
    r2_path                 varchar(500),
    b2_path                 varchar(500),
    status                  varchar(20)  NOT NULL DEFAULT 'IN_PROGRESS'
        CHECK (status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED', 'VERIFIED')),
    created_at              timestamptz  NOT NULL DEFAULT now(),
    verified_at             timestamptz,
    backup_job_id           uuid,
    compression_ratio       double precision CHECK (compression_ratio > 0),
    backup_duration_seconds integer CHECK (backup_duration_seconds >= 0),
    notes                   text         NOT NULL DEFAULT '',
    created_by_id           uuid REFERENCES users (id) ON DELETE SET NULL,
    metadata                jsonb        NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    updated_at              timestamptz  NOT NULL DEFAULT now(),

    CONSTRAINT backups_backup_backup_job_id_key UNIQUE (backup_job_id),
    -- TENANT_BACKUP belongs to a tenant; FULL_DATABASE and WAL_ARCHIVE cover them all.
    CONSTRAINT backup_type_tenant CHECK (
        (backup_type = 'TENANT_BACKUP' AND tenant_id IS NOT NULL)
        OR (backup_type IN ('FULL_DATABASE', 'WAL_ARCHIVE') AND tenant_id IS NULL)
        OR backup_type = 'CONFIGURATION'),
    CONSTRAINT completed_requirements CHECK (
        status NOT IN ('COMPLETED', 'VERIFIED')
        OR (size_bytes IS NOT NULL AND checksum IS NOT NULL
            AND coalesce(local_path, r2_path, b2_path) IS NOT NULL)),
    CONSTRAINT verified_has_time CHECK (status <> 'VERIFIED' OR verified_at IS NOT NULL)
);

-- The seed's four indexes. Each ends in id so that keyset pagination
-- (ORDER BY created_at DESC, id DESC) can walk it without a sort.
CREATE INDEX backup_type_created_idx   ON backups_backup (backup_type, created_at DESC, id DESC);
CREATE INDEX backup_tenant_created_idx ON backups_backup (tenant_id, created_at DESC, id DESC);
CREATE INDEX backup_status_idx         ON backups_backup (status);
CREATE INDEX backup_created_idx        ON backups_backup (created_at DESC, id DESC);
-- Foreign key to users: keeps deleting a user from scanning the catalogue.
CREATE INDEX backup_created_by_idx     ON backups_backup (created_by_id) WHERE created_by_id IS NOT NULL;

ALTER TABLE backups_backup ENABLE ROW LEVEL SECURITY;
ALTER TABLE backups_backup FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backups_backup USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

GRANT SELECT, INSERT, UPDATE ON backups_backup TO backupwatch_app;

-- Idempotency-Key records: the first response to a create, replayed for a
-- retry with the same key and body. Scoped to the API key that sent it.
CREATE TABLE idempotency_keys (
    api_key_id      uuid         NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key             varchar(255) NOT NULL,
    tenant_id       uuid REFERENCES tenants (id) ON DELETE CASCADE,
    request_hash    bytea        NOT NULL,
    response_status integer      NOT NULL,
    response_body   bytea        NOT NULL,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON idempotency_keys USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

GRANT SELECT, INSERT, DELETE ON idempotency_keys TO backupwatch_app;
