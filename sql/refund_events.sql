-- refund_events: one row per platform message of topics taobao_refund_*, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.refund_id', '$.tid', '$.oid', '$.seller_nick', '$.buyer_nick',
                                            '$.buyer_open_uid', '$.refund_fee', '$.bill_type', '$.refund_phase',
                                            '$.modified']) AS f
    FROM pending_events('refund')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS refund_id, s_int(f[2]) AS tid, s_int(f[3]) AS oid, f[4] AS seller_nick,
       f[5] AS buyer_nick, f[6] AS buyer_open_uid, s_money(f[7]) AS refund_fee,
       f[8] AS bill_type, f[9] AS refund_phase, s_time(f[10], content, '$.modified') AS modified,
       content
FROM events
