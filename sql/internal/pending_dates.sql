-- Event dates the new deliveries touch: their own dates, and the dates of every other copy of the same platform
-- message (a new copy can change which copy is canonical). Input: $batch_ids, the batches just ingested.
INSERT OR IGNORE INTO etl.pending_dates
WITH new_ids AS (
    SELECT DISTINCT domain, message_id FROM etl.deliveries
    WHERE reason IS NULL AND domain IS NOT NULL AND batch_id IN (SELECT unnest($batch_ids))
)
SELECT DISTINCT d.event_date
FROM etl.deliveries AS d
JOIN new_ids AS n ON n.domain = d.domain AND n.message_id = d.message_id
WHERE d.reason IS NULL
