-- window_events: for the window of event dates [$date_from, $date_to) being rebuilt, the canonical copy of every
-- platform message of every domain, with its content object as JSON text read back from its landed Parquet row.
-- $files: the landed files holding deliveries of the window.
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
    SELECT d.* FROM etl.deliveries AS d
    SEMI JOIN ids_in_window AS w ON w.domain = d.domain AND w.message_id = d.message_id
    WHERE d.reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY d.domain, d.message_id ORDER BY d.born_timestamp, d.mq_msg_id) = 1
),
in_window AS (
    SELECT * FROM canonical WHERE event_date >= $date_from AND event_date < $date_to
),
bodies AS (
    SELECT c.*, json_extract(decode(r.body), '$.content')::VARCHAR AS content_raw
    FROM in_window AS c
    JOIN read_parquet($files, file_row_number = true) AS r
      ON r.batch_id = c.batch_id AND r.file_row_number = c.row_in_file
)
SELECT * EXCLUDE (content_raw),
    CASE WHEN left(content_raw, 1) = '{' THEN content_raw ELSE content_raw ->> '$' END AS content
FROM bodies
