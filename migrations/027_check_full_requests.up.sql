-- 027: a request for a full check run is not lost to a run under way
-- (issue 20, found in review). A backup DELETE and an import ask the next
-- run to recompute every series by clearing check_state's bookmark; a run
-- that had read the bookmark before such a request committed then saved
-- what it had read over it, and the reruns after it went on from series
-- states that still held the deleted backup until the hourly run. Each
-- request now also counts itself in full_requests; a run saves its
-- bookmark only if the count is what it read, and otherwise leaves the
-- request standing.
ALTER TABLE check_state ADD COLUMN full_requests bigint NOT NULL DEFAULT 0;
