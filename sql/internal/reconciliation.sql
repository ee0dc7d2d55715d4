-- Contract §5: deliveries = event rows + duplicate deliveries + quarantined deliveries + unmodelled deliveries,
-- each counted over distinct mq_msg_id.
WITH event_rows AS (
    SELECT (SELECT count(*) FROM trade_events) + (SELECT count(*) FROM refund_events)
         + (SELECT count(*) FROM item_events) + (SELECT count(*) FROM logistics_events)
         + (SELECT count(*) FROM rating_events) + (SELECT count(*) FROM fenxiao_events) AS n
),
valid AS (
    SELECT count(*) AS deliveries_in_domains, count(DISTINCT (domain, message_id)) AS distinct_messages
    FROM etl.deliveries WHERE reason IS NULL AND domain IS NOT NULL
)
SELECT
    (SELECT count(DISTINCT mq_msg_id) FROM raw_messages) AS deliveries,
    (SELECT n FROM event_rows) AS events,
    (SELECT deliveries_in_domains - distinct_messages FROM valid) AS duplicates,
    (SELECT count(*) FROM quarantine) AS quarantined,
    (SELECT count(*) FROM etl.deliveries WHERE reason IS NULL AND domain IS NULL) AS unmodelled
