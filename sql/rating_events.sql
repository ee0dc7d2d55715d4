-- rating_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"tid": "VARCHAR", "oid": "VARCHAR", "num_iid": "VARCHAR",
                                        "seller_nick": "VARCHAR", "biz_type": "VARCHAR", "feedback": "VARCHAR",
                                        "impr_words": "VARCHAR", "gmt_modified": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.tid) AS tid, s_int(f.oid) AS oid, s_int(f.num_iid) AS num_iid, f.seller_nick,
       s_int(f.biz_type) AS biz_type, f.feedback, f.impr_words,
       s_time(f.gmt_modified, content, '$.gmt_modified') AS gmt_modified,
       content
FROM fields
