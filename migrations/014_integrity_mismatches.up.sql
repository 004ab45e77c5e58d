-- 014: one INTEGRITY_FAILURE alert per series and location, not per backup
-- (issue 12, "No pager floods").
--
-- A verify whose checksum does not match used to open an alert of its own:
-- five bad copies, five CRITICAL alerts, five pages. The alert now stands
-- for a series at a location (INTEGRITY_FAILURE:<series>:<location>) and
-- its details list the affected backups (at most 50) and their count. The
-- affected set itself lives here, one row per backup and location whose
-- last verify mismatched, so that the count stays right past the 50 listed
-- and a later matching verify can take its backup out; the alert resolves
-- when its fingerprint has no row left. location is local, r2 or b2, or
-- 'any' for a verify that named no location.
CREATE TABLE integrity_mismatches (
    backup_id         uuid NOT NULL REFERENCES backups_backup (id) ON DELETE CASCADE,
    location          varchar(10) NOT NULL CHECK (location IN ('local', 'r2', 'b2', 'any')),
    tenant_id         uuid REFERENCES tenants (id) ON DELETE CASCADE,
    fingerprint       text NOT NULL,
    filename          varchar(255) NOT NULL,
    expected_checksum varchar(64) NOT NULL,
    actual_checksum   varchar(64) NOT NULL,
    seen_at           timestamptz NOT NULL,
    PRIMARY KEY (backup_id, location)
);
-- The alert's details: the newest affected backups of a fingerprint, and
-- their count.
CREATE INDEX integrity_mismatch_fingerprint_idx ON integrity_mismatches (fingerprint, seen_at DESC, backup_id);

ALTER TABLE integrity_mismatches ENABLE ROW LEVEL SECURITY;
ALTER TABLE integrity_mismatches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON integrity_mismatches USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
-- The all-tenants role sees these rows only with the all-tenants scope set
-- (defence in depth, as for every table since 011).
CREATE POLICY all_tenants ON integrity_mismatches TO backupwatch_all USING (bw_scope_all()) WITH CHECK (bw_scope_all());

GRANT SELECT, INSERT, UPDATE, DELETE ON integrity_mismatches TO backupwatch_app, backupwatch_all;
