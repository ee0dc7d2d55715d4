-- fact_shipments: one row per (tid, out_sid) of logistics_events, out_sid '' where the events carry none
-- (contract §4.4). Refolds the shipments in etl.dirty_keys (domain 'logistics'), or every one when $full.
WITH touched AS (
    SELECT DISTINCT key AS tid, key2 AS out_sid FROM etl.dirty_keys WHERE domain = 'logistics'
),
events AS (
    SELECT e.*, coalesce(e.out_sid, '') AS shipment_sid, coalesce(e.trace_time, e.pub_time) AS trace_at,
        fold_order(coalesce(e.trace_time, e.pub_time), action_rank(e.action), e.message_id) AS event_order
    FROM logistics_events AS e
    WHERE $full OR (e.tid, coalesce(e.out_sid, '')) IN (SELECT (tid, out_sid) FROM touched)
),
folded AS (
    SELECT
        tid,
        shipment_sid AS out_sid,
        arg_max(company_name, event_order) FILTER (WHERE company_name IS NOT NULL) AS company_name,
        arg_max_null(action, event_order) AS last_action,
        arg_max_null(description, event_order) AS last_description,
        min(trace_time) FILTER (WHERE action = 'CONSIGN') AS consigned_at,
        min(trace_time) FILTER (WHERE action = 'GOT') AS picked_up_at,
        min(trace_time) FILTER (WHERE action = 'SIGNED') AS signed_at,
        min(trace_at) AS first_trace_at,
        max(trace_at) AS last_trace_at,
        count(*) FILTER (WHERE action IN ('FAILED', 'LOST')) AS exception_count,
        count(*) AS trace_count
    FROM events
    GROUP BY tid, shipment_sid
)
SELECT * FROM folded
