-- window_events: for the window of event dates [$date_from, $date_to) being rebuilt, the canonical copy of every
-- platform message of every domain, with its content object as JSON text.
--
-- Deduplication: one row per (domain, envelope id). When the platform published a message more than once (same
-- id, new msg_id), the copy born first wins (born_timestamp, then mq_msg_id), whatever the arrival order. It is
-- chosen among all copies, so an id never lands in two partitions.
CREATE OR REPLACE TEMP TABLE window_events AS
WITH ids_in_window AS (
    SELECT DISTINCT domain, message_id FROM etl.deliveries
    WHERE domain IS NOT NULL AND reason IS NULL AND event_date >= $date_from AND event_date < $date_to
),
canonical AS (
    -- narrow on purpose: only the ordering columns go through the window, not the content
    SELECT d.mq_msg_id, d.event_date FROM etl.deliveries AS d
    SEMI JOIN ids_in_window AS w ON w.domain = d.domain AND w.message_id = d.message_id
    WHERE d.reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY d.domain, d.message_id ORDER BY d.born_timestamp, d.mq_msg_id) = 1
),
canonical_in_window AS (
    SELECT mq_msg_id FROM canonical WHERE event_date >= $date_from AND event_date < $date_to
)
SELECT d.* FROM etl.deliveries AS d
SEMI JOIN canonical_in_window AS c ON c.mq_msg_id = d.mq_msg_id
WHERE d.event_date >= $date_from AND d.event_date < $date_to
