-- Contract §5: deliveries = event rows + duplicate deliveries + quarantined deliveries + unmodelled deliveries,
-- each counted over distinct mq_msg_id. The event rows and the quarantine are counted in their tables; the
-- deliveries, unmodelled deliveries and duplicates (usable copies of modelled messages beyond the first) from what
-- each ingest counted as it went (etl.ingest_counts), so nothing is recounted over all history. The event tables
-- must hold exactly one row per message first seen for the line to hold.
WITH event_rows AS (
    SELECT (SELECT count(*) FROM trade_events) + (SELECT count(*) FROM refund_events)
         + (SELECT count(*) FROM item_events) + (SELECT count(*) FROM logistics_events)
         + (SELECT count(*) FROM rating_events) + (SELECT count(*) FROM fenxiao_events) AS n
),
ingested AS (
    SELECT coalesce(sum(deliveries), 0) AS deliveries, coalesce(sum(unmodelled), 0) AS unmodelled,
           coalesce(sum(modelled_copies - messages), 0) AS duplicates
    FROM etl.ingest_counts
)
SELECT
    (SELECT deliveries FROM ingested)::BIGINT AS deliveries,
    (SELECT n FROM event_rows) AS events,
    (SELECT duplicates FROM ingested)::BIGINT AS duplicates,
    (SELECT count(*) FROM quarantine) AS quarantined,
    (SELECT unmodelled FROM ingested)::BIGINT AS unmodelled
