-- An unreadable batch is repaired once every delivery it is known to have held (its msg ids, when they could be
-- read) has been ingested from another landing: the same source landed again, or redelivered by the broker.
WITH open_batches AS (
    SELECT batch_id, unnest(mq_msg_ids) AS mq_msg_id
    FROM etl.unreadable_batches
    WHERE resolved_at IS NULL AND len(mq_msg_ids) > 0
),
still_missing AS (
    SELECT DISTINCT o.batch_id
    FROM open_batches AS o
    ANTI JOIN etl.deliveries AS d ON d.mq_msg_id = o.mq_msg_id
)
UPDATE etl.unreadable_batches
SET resolved_at = now()::TIMESTAMP
WHERE resolved_at IS NULL AND len(mq_msg_ids) > 0
  AND batch_id NOT IN (SELECT batch_id FROM still_missing);
