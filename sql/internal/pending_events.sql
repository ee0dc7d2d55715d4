-- The platform messages whose canonical copy is among the deliveries being ingested (new_deliveries), queued for
-- their event tables (etl.pending_events, applied by the event step).
--
-- Deduplication (contract §3): one row per (domain, envelope id). When the platform published a message more than
-- once (same id, new msg_id), the copy born first wins (born_timestamp, then mq_msg_id), whatever the arrival order.
-- So a new copy is queued only when it beats every copy seen before: those are looked up in etl.deliveries for the
-- new messages' ids only, and a message queued earlier and not applied yet is replaced in the queue.
-- Runs before the new deliveries are added to etl.deliveries.
CREATE OR REPLACE TEMP TABLE new_canonical AS
WITH new_copies AS (
    SELECT * FROM new_deliveries
    WHERE reason IS NULL AND domain IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY domain, message_id ORDER BY born_timestamp, mq_msg_id) = 1
),
older_copies AS (
    SELECT d.domain, d.message_id, min((d.born_timestamp, d.mq_msg_id)) AS best
    FROM etl.deliveries AS d
    WHERE d.reason IS NULL AND d.domain IS NOT NULL
      AND d.message_id IN (SELECT message_id FROM new_copies)
    GROUP BY ALL
),
winners AS (
    SELECT n.*, o.best IS NOT NULL AS replaces
    FROM new_copies AS n LEFT JOIN older_copies AS o USING (domain, message_id)
    WHERE o.best IS NULL OR (n.born_timestamp, n.mq_msg_id) < o.best
)
SELECT domain, message_id, topic, event_type, user_id, user_nick, pub_time, event_date, content, replaces
FROM winners;

DELETE FROM etl.pending_events
WHERE (domain, message_id) IN (SELECT (domain, message_id) FROM new_canonical WHERE replaces);

INSERT INTO etl.pending_events BY NAME SELECT * FROM new_canonical;
