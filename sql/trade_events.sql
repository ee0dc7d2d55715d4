-- trade_events: one row per platform message of topics taobao_trade_*, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.tid', '$.oid', '$.seller_nick', '$.buyer_nick', '$.buyer_open_uid',
                                            '$.status', '$.type', '$.payment']) AS f
    FROM pending_events('trade')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS tid, s_int(f[2]) AS oid, f[3] AS seller_nick, f[4] AS buyer_nick,
       f[5] AS buyer_open_uid, f[6] AS status, f[7] AS trade_type, s_money(f[8]) AS payment,
       content
FROM events
