-- The platform messages whose canonical copy is among the deliveries being ingested (new_deliveries): the
-- temporary new_canonical (one row per such copy; replaces: a copy of the message was seen before, so its event row,
-- if any, is replaced) and the view new_events, from which each event model reads its domain's new rows in the
-- same transaction.
--
-- Deduplication (contract §3): one row per (domain, envelope id). When the platform published a message more than
-- once (same id, new msg_id), the copy born first wins (born_timestamp, then mq_msg_id), whatever the arrival order.
-- So a new copy is taken only when it beats every copy seen before: those are looked up in etl.deliveries for the
-- new messages' ids only. The choice is made on narrow columns (the content joins in at the end), and only ids with
-- more than one new copy are ranked: a hash aggregate finds them, as nearly every id has one copy.
-- Runs before the new deliveries are added to etl.deliveries.
CREATE OR REPLACE TEMP TABLE new_canonical AS
WITH usable AS (
    SELECT domain, message_id, born_timestamp, mq_msg_id FROM new_deliveries
    WHERE reason IS NULL AND domain IS NOT NULL
),
republished AS (
    SELECT domain, message_id FROM usable GROUP BY ALL HAVING count(*) > 1
),
later_copies AS (
    SELECT u.mq_msg_id FROM usable AS u
    SEMI JOIN republished AS r ON r.domain = u.domain AND r.message_id = u.message_id
    QUALIFY row_number() OVER (PARTITION BY u.domain, u.message_id ORDER BY u.born_timestamp, u.mq_msg_id) > 1
),
new_copies AS (
    SELECT * FROM usable WHERE mq_msg_id NOT IN (SELECT mq_msg_id FROM later_copies)
),
seen_ids AS (
    -- the new ids seen before, found on the narrow id column alone: nearly always none or a few, so the scan below
    -- reads the other columns of their rows only (their min/max and a short IN list prune the rest)
    SELECT DISTINCT d.message_id FROM etl.deliveries AS d
    WHERE d.message_id IN (SELECT message_id FROM new_copies)
),
older_copies AS (
    SELECT d.domain, d.message_id, min((d.born_timestamp, d.mq_msg_id)) AS best
    FROM etl.deliveries AS d
    WHERE d.reason IS NULL AND d.domain IS NOT NULL
      AND d.message_id IN (SELECT message_id FROM seen_ids)
    GROUP BY ALL
)
SELECT n.mq_msg_id, n.domain, n.message_id, o.best IS NOT NULL AS replaces
FROM new_copies AS n LEFT JOIN older_copies AS o USING (domain, message_id)
WHERE o.best IS NULL OR (n.born_timestamp, n.mq_msg_id) < o.best;

-- The envelope of each new canonical copy, with its content: what the event models (sql/<table>.sql) read, filtered
-- to their $domain. A view: the content is not copied again.
CREATE OR REPLACE TEMP VIEW new_events AS
SELECT d.domain, d.message_id, d.topic, d.event_type, d.user_id, d.user_nick, d.pub_time, d.event_date, d.content
FROM new_deliveries AS d JOIN new_canonical AS c USING (mq_msg_id, domain);
