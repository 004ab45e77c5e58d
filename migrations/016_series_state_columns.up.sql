-- 016: the check runs' stored series histories in plain columns instead of
-- a binary encoding (issue 13). backup_series_state.history (010) was a
-- byte string that only shared/check could read; its columns now say what
-- the rules read of a series, and an operator can read them with SELECT.
--
-- The stored rows are dropped rather than converted, and the bookmark with
-- them: with no changes_from, the next run recomputes every series from
-- backups_backup and stores them anew (what it does every hour anyway),
-- and GET /v1/status reads the catalogue until then.
DELETE FROM backup_series_state;
UPDATE check_state SET changes_from = NULL, series_full_at = NULL;

ALTER TABLE backup_series_state
    DROP COLUMN history,
    -- The series' first backup, and the status of its newest finished one
    -- (NULL: none has finished).
    ADD COLUMN first_at                timestamptz NOT NULL,
    ADD COLUMN last_finished           varchar(20),
    -- Its newest completed (or verified) backup, NULL if it has none.
    ADD COLUMN newest_id               uuid,
    ADD COLUMN newest_created_at       timestamptz,
    ADD COLUMN newest_duration_seconds bigint,
    ADD COLUMN newest_status           varchar(20),
    ADD COLUMN newest_filename         varchar(255),
    -- The sizes of its newest completed backups, newest first: the size
    -- rule's baseline (check/rule, ReadSize).
    ADD COLUMN sizes                   bigint[] NOT NULL;
