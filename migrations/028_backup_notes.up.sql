-- 028: backups' notes searched in a narrow table of their own (issue 14).
-- A search whose matches are rare but too many for its first step (the
-- seed's "manual run" notes: 2,000 of 2 million backups) gathered them
-- through backups_backup's trigram index on notes, and each match cost a
-- visit to its own page of the wide table, to check it against q and read
-- its time: 2,000 pages, most of such a search's 11 ms (bench/REPORT.md).
-- Few backups have notes (a failure's reason, an operator's remark), so
-- here they are again, only those, with what the gathering reads (the
-- time and the tenant, for row-level security) and their own trigram
-- index: the same matches are on a few dozen pages. backups_backup keeps
-- the column (the list's walks read it there) and loses its index.
CREATE TABLE backup_notes (
    id         uuid PRIMARY KEY REFERENCES backups_backup (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    tenant_id  uuid REFERENCES tenants (id) ON DELETE CASCADE,
    notes      text NOT NULL CHECK (notes <> '')
);
DROP INDEX backup_notes_trgm_idx;
CREATE INDEX backup_notes_trgm_idx ON backup_notes USING gin (notes gin_trgm_ops);
CREATE INDEX backup_notes_tenant_idx ON backup_notes (tenant_id);

ALTER TABLE backup_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE backup_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON backup_notes USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));
-- As backups_backup's (migration 011): the all-tenants role reads every
-- row with no condition of the policy's, so that the trigram index can
-- serve q (ILIKE is not leakproof: PostgreSQL does not use it ahead of a
-- policy's condition); a tenant's scope reads its rows through the tenant
-- index, and q checks each.
CREATE POLICY all_tenants_read ON backup_notes FOR SELECT TO backupwatch_all USING (true);
CREATE POLICY all_tenants_insert ON backup_notes FOR INSERT TO backupwatch_all WITH CHECK (bw_scope_all());
CREATE POLICY all_tenants_update ON backup_notes FOR UPDATE TO backupwatch_all
    USING (bw_scope_all()) WITH CHECK (bw_scope_all());
CREATE POLICY all_tenants_delete ON backup_notes FOR DELETE TO backupwatch_all USING (bw_scope_all());
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_notes TO backupwatch_app, backupwatch_all;

-- Kept by triggers, in the writing transaction and its scope: a backup
-- reported or edited with notes has its row here, one whose notes are
-- emptied loses it, and a deleted backup takes it along (the foreign key).
-- A report without notes (nearly all of them) fires nothing.
CREATE FUNCTION bw_sync_backup_notes() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF NEW.notes = '' THEN
        DELETE FROM backup_notes WHERE id = NEW.id;
    ELSE
        INSERT INTO backup_notes (id, created_at, tenant_id, notes)
        VALUES (NEW.id, NEW.created_at, NEW.tenant_id, NEW.notes)
        ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, tenant_id = EXCLUDED.tenant_id, notes = EXCLUDED.notes;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER backup_notes_on_insert AFTER INSERT ON backups_backup
    FOR EACH ROW WHEN (NEW.notes <> '') EXECUTE FUNCTION bw_sync_backup_notes();
CREATE TRIGGER backup_notes_on_update AFTER UPDATE OF notes, created_at, tenant_id ON backups_backup
    FOR EACH ROW WHEN (NEW.notes IS DISTINCT FROM OLD.notes OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id)
    EXECUTE FUNCTION bw_sync_backup_notes();

INSERT INTO backup_notes (id, created_at, tenant_id, notes)
    SELECT id, created_at, tenant_id, notes FROM backups_backup WHERE notes <> '';
