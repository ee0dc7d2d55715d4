-- The snapshots a maintenance pass expires (jushita_etl/warehouse/maintenance.py), as one list, and the newest
-- one's time. Of the snapshots before the published one ($published, never expired):
--   * those older than the retention ($keep),
--   * and those older than the fine window ($fine) that are neither a state a pass published after compacting nor
--     that pass's publish commit (which carries the commit message $message, and is how the next pass knows the
--     state: the newest published snapshot before it),
-- but never a state that was the published one less than $fine ago: readers may still be on it.
WITH snapshots AS (
    SELECT snapshot_id, snapshot_time, commit_message FROM ducklake_snapshots($alias)
),
pass_publishes AS (
    SELECT snapshot_id FROM snapshots WHERE commit_message = $message
),
pass_states AS (
    SELECT max(published.snapshot_id) AS snapshot_id
    FROM pass_publishes JOIN etl.published AS published ON published.snapshot_id < pass_publishes.snapshot_id
    GROUP BY pass_publishes.snapshot_id
),
publications AS (  -- published_at is UTC, as now()::TIMESTAMP on the writer's connection
    SELECT snapshot_id, lead(published_at) OVER (ORDER BY snapshot_id) AS superseded_at FROM etl.published
),
read_lately AS (
    SELECT snapshot_id FROM publications WHERE superseded_at IS NULL OR superseded_at >= now()::TIMESTAMP - $fine
),
expiring AS (
    SELECT snapshot_id, snapshot_time FROM snapshots
    WHERE snapshot_id < coalesce($published, 0)
      AND snapshot_id NOT IN (SELECT snapshot_id FROM read_lately)
      AND (snapshot_time < now() - $keep
           OR (snapshot_time < now() - $fine
               AND snapshot_id NOT IN (SELECT snapshot_id FROM pass_states UNION ALL FROM pass_publishes)))
)
SELECT list(snapshot_id ORDER BY snapshot_id), max(snapshot_time)::TIMESTAMP FROM expiring
