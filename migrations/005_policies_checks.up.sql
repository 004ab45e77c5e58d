-- 005: backup policies, storage targets and the record of check runs.

-- A policy with tenant_id NULL is the default for its backup type; one with a
-- tenant overrides it for that tenant's series.
CREATE TABLE backup_policies (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    backup_type               varchar(20) NOT NULL
        CHECK (backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP', 'WAL_ARCHIVE', 'CONFIGURATION')),
    tenant_id                 uuid REFERENCES tenants (id) ON DELETE CASCADE,
    expected_interval_seconds integer NOT NULL CHECK (expected_interval_seconds > 0),
    grace_seconds             integer NOT NULL CHECK (grace_seconds >= 0),
    max_duration_seconds      integer NOT NULL CHECK (max_duration_seconds > 0),
    size_deviation_percent    integer CHECK (size_deviation_percent BETWEEN 1 AND 1000), -- NULL: off
    min_history               integer NOT NULL DEFAULT 3 CHECK (min_history BETWEEN 1 AND 14),
    enabled                   boolean NOT NULL DEFAULT true,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT backup_policies_type_tenant_key UNIQUE NULLS NOT DISTINCT (backup_type, tenant_id)
);

INSERT INTO backup_policies (backup_type, expected_interval_seconds, grace_seconds, max_duration_seconds, size_deviation_percent) VALUES
    ('FULL_DATABASE',   86400,  7200, 7200,   50),
    ('TENANT_BACKUP',  604800, 21600, 1800,   50),
    ('WAL_ARCHIVE',       300,   600,   60, NULL),
    ('CONFIGURATION',   86400,  7200,  300,   50);

ALTER TABLE backup_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE backup_policies FORCE ROW LEVEL SECURITY;
-- Everyone in scope reads the defaults; only the all-tenants scope writes them.
CREATE POLICY tenant_scope ON backup_policies
    USING (tenant_id IS NULL OR bw_visible(tenant_id))
    WITH CHECK (bw_visible(tenant_id));

-- Where backups are kept. capacity_bytes NULL: capacity unknown, not checked.
CREATE TABLE storage_targets (
    name             varchar(10) PRIMARY KEY CHECK (name IN ('local', 'r2', 'b2')),
    capacity_bytes   bigint CHECK (capacity_bytes > 0),
    warn_percent     integer NOT NULL DEFAULT 80 CHECK (warn_percent BETWEEN 1 AND 100),
    critical_percent integer NOT NULL DEFAULT 95 CHECK (critical_percent BETWEEN 1 AND 100),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT storage_targets_warn_below_critical CHECK (warn_percent < critical_percent)
);
INSERT INTO storage_targets (name) VALUES ('local'), ('r2'), ('b2');

-- One row per check run, scheduled or on demand.
CREATE TABLE check_runs (
    id                 uuid PRIMARY KEY,
    trigger            varchar(20) NOT NULL,
    status             varchar(10) NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'SKIPPED', 'FAILED')),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    alerts_opened      integer NOT NULL DEFAULT 0,
    alerts_updated     integer NOT NULL DEFAULT 0,
    alerts_resolved    integer NOT NULL DEFAULT 0,
    notifications_sent integer NOT NULL DEFAULT 0,
    errors             jsonb   NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX check_runs_started_idx ON check_runs (started_at DESC);

GRANT SELECT, INSERT, UPDATE ON backup_policies, storage_targets, check_runs TO backupwatch_app;
