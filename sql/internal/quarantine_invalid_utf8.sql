-- Quarantined deliveries of the batches just ingested ($batch_ids) whose body is not valid UTF-8: the body as text
-- with each invalid sequence replaced by U+FFFD (Python's "replace", etl_replace_invalid_utf8). The rest of the
-- quarantine rows come from parse_deliveries.sql.
INSERT INTO quarantine
SELECT mq_msg_id, message_id, topic, reason, detail, etl_replace_invalid_utf8(body) AS body, received_at
FROM parsed.deliveries
WHERE reason IS NOT NULL AND batch_id IN (SELECT unnest($batch_ids)) AND NOT is_utf8(body)
