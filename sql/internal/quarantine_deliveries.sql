-- Quarantine: one row per distinct quarantined mq_msg_id (§2) of the batches being ingested ($batch_ids), from their
-- parsed deliveries (parse_deliveries.sql), the body as text. Here the bodies that are valid UTF-8 (nearly all); the
-- others, invalid UTF-8 replaced by U+FFFD, are added by quarantine_invalid_utf8.sql when there are any.
INSERT INTO quarantine
SELECT mq_msg_id, message_id, topic, reason, detail, decode(body) AS body, received_at
FROM parsed.deliveries
WHERE reason IS NOT NULL AND batch_id IN (SELECT unnest($batch_ids)) AND coalesce(is_utf8(body), true);
