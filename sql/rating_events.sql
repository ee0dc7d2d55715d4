-- rating_events: one row per platform message of topics taobao_traderate_*, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.tid', '$.oid', '$.num_iid', '$.seller_nick', '$.biz_type', '$.feedback',
                                            '$.impr_words', '$.gmt_modified']) AS f
    FROM pending_events('rating')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS tid, s_int(f[2]) AS oid, s_int(f[3]) AS num_iid, f[4] AS seller_nick,
       s_int(f[5]) AS biz_type, f[6] AS feedback, f[7] AS impr_words, s_time(f[8], content, '$.gmt_modified') AS gmt_modified,
       content
FROM events
