-- logistics_events: one row per platform message of taobao_logistics_LogsticDetailTrace, from the window
-- being rebuilt (temp table window_events, see sql/internal/window_events.sql).
WITH events AS (
    SELECT *, json_extract(content, ['$.tid', '$.out_sid', '$.company_name', '$.action', '$.desc', '$.time'])::VARCHAR[] AS f
    FROM window_events
    WHERE domain = 'logistics'
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       j_int(f[1]) AS tid, j_text(f[2]) AS out_sid, j_text(f[3]) AS company_name, j_text(f[4]) AS action,
       j_text(f[5]) AS description, j_time(f[6]) AS trace_time,
       content
FROM events
