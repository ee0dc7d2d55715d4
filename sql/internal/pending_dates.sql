-- Event dates the new deliveries touch: their own dates, and the dates of older copies of the same platform
-- messages (a new copy can change which copy is canonical). Input: $batch_ids, the batches just ingested.
-- The older copies are looked up from the rest of parsed.deliveries, so a first build (nothing older) joins nothing:
-- 0.07 s instead of 0.26-0.39 s for 1M new deliveries.
INSERT OR IGNORE INTO etl.pending_dates
WITH new_copies AS (
    SELECT domain, message_id, event_date FROM parsed.deliveries
    WHERE reason IS NULL AND domain IS NOT NULL AND batch_id IN (SELECT unnest($batch_ids))
),
older_copies AS (
    SELECT d.event_date FROM parsed.deliveries AS d
    WHERE d.reason IS NULL AND d.batch_id NOT IN (SELECT unnest($batch_ids))
      AND (d.domain, d.message_id) IN (SELECT domain, message_id FROM new_copies)
)
SELECT event_date FROM new_copies
UNION
SELECT event_date FROM older_copies
