-- logistics_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"tid": "VARCHAR", "out_sid": "VARCHAR", "company_name": "VARCHAR",
                                        "action": "VARCHAR", "desc": "VARCHAR", "time": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.tid) AS tid, f.out_sid, f.company_name, f.action, f."desc" AS description,
       s_time(f.time, content, '$.time') AS trace_time,
       content
FROM fields
