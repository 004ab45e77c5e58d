-- 015: SMS capped per hour (issue 12, "No pager floods").
--
-- The relay sends at most SMS_MAX_PER_HOUR SMS in any hour, counted here
-- (state SENT, channel sms, sent_at within the hour) so that the cap holds
-- across relay runs and processes. An SMS past the cap is HELD: not sent by
-- SMS, with the reason in last_error; email and webhook still carry its
-- alert. HELD is final, so the row is neither retried nor given up (no
-- NOTIFICATION_FAILURE). held_at is when it was held; digest_message_id is
-- the SNS message id of the one digest SMS that told how many were held
-- (null while no digest told of it).
ALTER TABLE alert_notifications DROP CONSTRAINT alert_notifications_state_check;
ALTER TABLE alert_notifications ADD CONSTRAINT alert_notifications_state_check
    CHECK (state IN ('PENDING', 'SENT', 'SKIPPED', 'FAILED', 'HELD'));
ALTER TABLE alert_notifications ADD COLUMN held_at timestamptz;
ALTER TABLE alert_notifications ADD COLUMN digest_message_id text;

-- What the relay counts before each batch with SMS: the SMS sent and held in
-- the last hour.
CREATE INDEX alert_notifications_sms_idx ON alert_notifications (coalesce(sent_at, held_at))
    WHERE channel = 'sms' AND state IN ('SENT', 'HELD');
