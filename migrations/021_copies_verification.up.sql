-- 021: copies that are proven (issue 17): storage targets that know their
-- bucket, the state of each stored copy, the copy verifier's runs and what
-- its daily listing of each target found.

-- A target's S3 location ({"endpoint_url", "bucket", "region", "prefix",
-- "path_style"}; NULL: not an S3 target, nothing is uploaded or verified
-- there). Its credentials are never here: they come from the environment
-- or a Secrets Manager secret per target.
ALTER TABLE storage_targets
    ADD COLUMN s3 jsonb CHECK (s3 IS NULL OR jsonb_typeof(s3) = 'object'),
    -- The verifier's last listing of the target's prefix (drift): when, how
    -- many objects and bytes are really stored, and the objects the
    -- catalogue does not know (orphans: counted, the first 100 listed,
    -- never deleted).
    ADD COLUMN listed_at      timestamptz,
    ADD COLUMN listed_objects bigint,
    ADD COLUMN listed_bytes   bigint,
    ADD COLUMN orphan_count   bigint,
    ADD COLUMN orphan_bytes   bigint,
    ADD COLUMN orphans        jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN list_error     text,
    -- The copies at the target as the verifier's last run counted them
    -- (GET /v1/status reads these instead of walking the catalogue): how
    -- many, how many matched within the window (max_unverified_seconds),
    -- the oldest backup whose copy did not, and the copies whose last read
    -- mismatched or found nothing.
    ADD COLUMN copies_counted_at       timestamptz,
    ADD COLUMN copies                  bigint,
    ADD COLUMN copies_verified_within  bigint,
    ADD COLUMN max_unverified_seconds  bigint,
    ADD COLUMN oldest_unverified       timestamptz,
    ADD COLUMN copies_mismatched       bigint,
    ADD COLUMN copies_missing          bigint;

-- What the verifier (or a /verify naming the location) last found of a
-- backup's copy at a location. A copy with a path and no row is
-- UNVERIFIED: rows are written when a copy is read, so reporting a backup
-- costs nothing more. checked_at is the last read, whatever it found (the
-- verifier reads the copies checked longest ago first); verified_at the
-- last read that matched.
CREATE TABLE backup_copies (
    backup_id   uuid NOT NULL REFERENCES backups_backup (id) ON DELETE CASCADE,
    location    varchar(10) NOT NULL CHECK (location IN ('local', 'r2', 'b2')),
    tenant_id   uuid REFERENCES tenants (id) ON DELETE CASCADE,
    state       varchar(10) NOT NULL CHECK (state IN ('UNVERIFIED', 'OK', 'MISMATCH', 'MISSING')),
    checked_at  timestamptz NOT NULL,
    verified_at timestamptz,
    PRIMARY KEY (backup_id, location)
);
CREATE INDEX backup_copies_checked_idx ON backup_copies (location, checked_at);

ALTER TABLE backup_copies ENABLE ROW LEVEL SECURITY;
ALTER TABLE backup_copies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backup_copies USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
CREATE POLICY all_tenants ON backup_copies TO backupwatch_all USING (bw_scope_all()) WITH CHECK (bw_scope_all());
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_copies TO backupwatch_app, backupwatch_all;

-- One row per run of the copy verifier, as check_runs holds the checks'.
-- A RUNNING row holds the verifier until lease_until: a run that died
-- (a Lambda timed out) stops blocking the next once its lease is over.
CREATE TABLE verification_runs (
    id           uuid PRIMARY KEY,
    trigger      varchar(20) NOT NULL,
    status       varchar(10) NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED', 'ABANDONED')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    lease_until  timestamptz NOT NULL,
    max_bytes    bigint NOT NULL,
    copies_read  integer NOT NULL DEFAULT 0,
    bytes_read   bigint NOT NULL DEFAULT 0,
    matched      integer NOT NULL DEFAULT 0,
    mismatched   integer NOT NULL DEFAULT 0,
    missing      integer NOT NULL DEFAULT 0,
    remaining    integer NOT NULL DEFAULT 0,
    listed       boolean NOT NULL DEFAULT false,
    errors       jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX verification_runs_started_idx ON verification_runs (started_at DESC);
-- At most one run holds the verifier.
CREATE UNIQUE INDEX verification_runs_one_running ON verification_runs ((true)) WHERE status = 'RUNNING';
GRANT SELECT, INSERT, UPDATE, DELETE ON verification_runs TO backupwatch_app, backupwatch_all;
GRANT SELECT, UPDATE ON storage_targets TO backupwatch_all;
