-- What the ingest brought in since raw_messages last reported it: batches, landed rows, new distinct deliveries
-- (mq_msg_id), and how many of those were quarantined.
WITH unreported AS (
    SELECT batch_id, rows FROM etl.ingested_batches WHERE reported_at IS NULL
),
new_deliveries AS (
    SELECT count(*) AS deliveries, count(*) FILTER (WHERE reason IS NOT NULL) AS quarantined
    FROM etl.deliveries
    WHERE batch_id IN (SELECT batch_id FROM unreported)
)
SELECT (SELECT count(*) FROM unreported) AS batches, (SELECT coalesce(sum(rows), 0) FROM unreported) AS rows,
       deliveries, quarantined
FROM new_deliveries
