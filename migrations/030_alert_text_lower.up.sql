-- 030: alerts' text kept lower-cased beside it, for q (issue 15). A
-- search checks q against each alert it walks with ILIKE, which in a
-- multi-byte encoding is lower(text) LIKE lower(pattern): every check
-- lower-cases the message and the resolution notes again. A console page
-- of alerts counts its matches from the first row, reading a thousand
-- alerts or more: counting q=migration's 101 among 1,335 alerts took 2.55
-- ms with ILIKE, 0.90 with LIKE on these columns (pgbench on the bench's
-- history; bench/README.md). The columns are the text lower-cased by
-- PostgreSQL's own lower() when a row is written, so a search matches the
-- same rows as before; the trigram indexes move onto them.
ALTER TABLE backups_alert
    ADD COLUMN message_lower text NOT NULL GENERATED ALWAYS AS (lower(message)) STORED,
    ADD COLUMN resolution_notes_lower text NOT NULL GENERATED ALWAYS AS (lower(resolution_notes)) STORED;
DROP INDEX alert_message_trgm_idx;
DROP INDEX alert_resolution_trgm_idx;
CREATE INDEX alert_message_trgm_idx ON backups_alert USING gin (message_lower gin_trgm_ops);
CREATE INDEX alert_resolution_trgm_idx ON backups_alert USING gin (resolution_notes_lower gin_trgm_ops);
