-- Quarantined deliveries being ingested whose body is not valid UTF-8: the body as text with each invalid sequence
-- replaced by U+FFFD, decoded by Python's "replace" ($mq_msg_ids and their $bodies, see steps.ingest). The rest of
-- the quarantine rows come from quarantine_deliveries.sql.
INSERT INTO quarantine
WITH replaced AS (
    SELECT unnest($mq_msg_ids) AS mq_msg_id, unnest($bodies) AS body
)
SELECT d.mq_msg_id, d.message_id, d.topic, d.reason, d.detail, replaced.body, d.received_at
FROM new_deliveries AS d JOIN replaced USING (mq_msg_id)
WHERE d.reason IS NOT NULL
