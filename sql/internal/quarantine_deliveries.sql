-- Quarantine: one row per distinct quarantined mq_msg_id (§2) among the deliveries being ingested (new_deliveries,
-- parse_deliveries.sql), the body as text. Here the bodies that are valid UTF-8 (nearly all); the others, invalid
-- UTF-8 replaced by U+FFFD, are added by quarantine_invalid_utf8.sql when there are any.
INSERT INTO quarantine
SELECT mq_msg_id, message_id, topic, reason, detail, decode(body) AS body, received_at
FROM new_deliveries
WHERE reason IS NOT NULL AND coalesce(is_utf8(body), true);
