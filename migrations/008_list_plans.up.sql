-- 008: plans that stay right on a million backups (issue 7, bench/README.md).
--
-- 1. The tenant scope, written so the planner estimates it sanely.
--
-- bw_visible(t) was `bw_scope_all() OR t = bw_scope_tenant()`. Inlined
-- into every policy, the planner cannot know the setting, so it guessed the
-- first arm true for 0.5 % of rows (the default for `expr = constant`) and
-- the whole policy about 0.5 %: every list then looked 200 times smaller
-- than it is, and plans that suit a few dozen rows (a bitmap scan and a
-- sort) were picked for lists of a hundred thousand. A CASE at the top is
-- estimated at one half, which keeps the ordered index walks. Same truth
-- table: '*' sees every row; a tenant sees its own rows; no scope sees
-- nothing, tenant-less rows included (NULL = x is never true).
CREATE OR REPLACE FUNCTION bw_visible(t uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN bw_scope_all() THEN true ELSE t = bw_scope_tenant() END $$;

-- 2. The seed's backup_status_idx, ending in (created_at, id) like the other
-- seed indexes (003), so that ?status=X walks the index in list order and
-- stops at the page's end instead of fetching every FAILED backup and
-- sorting them.
DROP INDEX backup_status_idx;
CREATE INDEX backup_status_idx ON backups_backup (status, created_at DESC, id DESC);
