-- 011: users belong to tenants, backup_job_id is unique per tenant, and the
-- all-tenants role sees nothing unless the all-tenants scope is set (issue 12).

-- Users carry a tenant: NULL is the operator's own staff. Until now the
-- table had no policy, so a tenant-scoped admin listed every user's name and
-- e-mail address and could make a key act as another tenant's user. Existing
-- users are all staff (NULL), which is what they were.
--
-- Foreign keys to users (created_by_id, initiated_by_id, acknowledged_by_id,
-- resolved_by_id, api_keys.user_id) are checked by PostgreSQL without row
-- security, so a tenant's backup may name a staff user its scope cannot read.
ALTER TABLE users ADD COLUMN tenant_id uuid REFERENCES tenants (id) ON DELETE RESTRICT;
CREATE INDEX users_tenant_idx ON users (tenant_id);

-- An e-mail address is unique within a tenant (and among staff), not across
-- tenants: a 409 must not tell one tenant that another has a user with that
-- address. Same name, so that the API's conflict message still applies.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key
    ON users (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(email))
    WHERE email IS NOT NULL;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON users USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
CREATE POLICY all_tenants ON users TO backupwatch_all USING (bw_scope_all()) WITH CHECK (bw_scope_all());
GRANT SELECT, INSERT, UPDATE ON users TO backupwatch_app, backupwatch_all;

-- backup_job_id is unique per tenant, and among tenant-less backups, so that
-- a 409 does not tell a tenant that another tenant used an id. The index
-- keeps the old constraint's name (the API's conflict message names it);
-- the plain index keeps lookups by backup_job_id alone fast.
ALTER TABLE backups_backup DROP CONSTRAINT backups_backup_backup_job_id_key;
CREATE UNIQUE INDEX backups_backup_backup_job_id_key
    ON backups_backup (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), backup_job_id);
CREATE INDEX backup_job_id_idx ON backups_backup (backup_job_id) WHERE backup_job_id IS NOT NULL;

-- The all_tenants policies (009, 010) let backupwatch_all see every row
-- whatever app.tenant_id says. Defence in depth: they now also require the
-- all-tenants scope ('*', bw_scope_all), so a transaction that takes the
-- role without setting the scope sees and writes nothing, as one that sets
-- nothing already did.
--
-- Except reading backups_backup. A policy condition other than `true` is a
-- security barrier (see 009): no condition that is not LEAKPROOF, such as
-- ILIKE, can then use an index: `q` could no longer use the trigram
-- indexes and would read the whole catalogue again (480 ms at a million).
-- Writing backups_backup does require the scope.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT tablename FROM pg_policies
             WHERE schemaname = 'public' AND policyname = 'all_tenants' AND tablename <> 'backups_backup'
    LOOP
        EXECUTE format('ALTER POLICY all_tenants ON %I USING (bw_scope_all()) WITH CHECK (bw_scope_all())', p.tablename);
    END LOOP;
END
$$;
DROP POLICY all_tenants ON backups_backup;
CREATE POLICY all_tenants_read ON backups_backup FOR SELECT TO backupwatch_all USING (true);
CREATE POLICY all_tenants_insert ON backups_backup FOR INSERT TO backupwatch_all WITH CHECK (bw_scope_all());
CREATE POLICY all_tenants_update ON backups_backup FOR UPDATE TO backupwatch_all
    USING (bw_scope_all()) WITH CHECK (bw_scope_all());
CREATE POLICY all_tenants_delete ON backups_backup FOR DELETE TO backupwatch_all USING (bw_scope_all());
