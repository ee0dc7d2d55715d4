-- logistics_events: one row per platform message of taobao_logistics_LogsticDetailTrace, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.tid', '$.out_sid', '$.company_name', '$.action', '$.desc', '$.time']) AS f
    FROM pending_events('logistics')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS tid, f[2] AS out_sid, f[3] AS company_name, f[4] AS action,
       f[5] AS description, s_time(f[6], content, '$.time') AS trace_time,
       content
FROM events
