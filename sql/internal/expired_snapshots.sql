-- The snapshots a maintenance pass expires (jushita_etl/warehouse/maintenance.py), as one list, and the newest
-- one's time: of the snapshots before the published one ($published, never expired), those older than the
-- retention ($keep), and those older than the fine window ($fine) that are neither a state a pass published after
-- compacting nor that pass's publish commit. The commit carries the commit message $message (so it is kept too:
-- it is how the next pass knows the state); the state is the newest published snapshot before it.
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
expiring AS (
    SELECT snapshot_id, snapshot_time FROM snapshots
    WHERE snapshot_id < coalesce($published, 0)
      AND (snapshot_time < now() - $keep
           OR (snapshot_time < now() - $fine
               AND snapshot_id NOT IN (SELECT snapshot_id FROM pass_states UNION ALL FROM pass_publishes)))
)
SELECT list(snapshot_id ORDER BY snapshot_id), max(snapshot_time)::TIMESTAMP FROM expiring
