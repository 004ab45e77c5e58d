-- 026: room in the alerts' pages for the check run's touches (issue 20).
-- Every check run marks the open alerts whose condition still holds as
-- seen again (last_seen_at): at 100,000 series about 2,000 alerts every
-- five minutes. With full pages each such update wrote a new entry in
-- every one of the table's thirteen indexes, two of them trigram indexes
-- (bench/SCALE.md: 235-253 ms of a 540 ms rerun at 10M backups). No index
-- holds last_seen_at, so with free space on the page the update is a
-- heap-only tuple (HOT) and touches no index. New pages are filled to
-- 80 %; the rows a run touches move to such pages at their first touch.
ALTER TABLE backups_alert SET (fillfactor = 80);
