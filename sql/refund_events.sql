-- refund_events: one row per platform message of topics taobao_refund_*, from the window being rebuilt
-- (temp table window_events, see sql/internal/window_events.sql).
WITH events AS (
    SELECT *, json_extract(content, ['$.refund_id', '$.tid', '$.oid', '$.seller_nick', '$.buyer_nick',
                                     '$.buyer_open_uid', '$.refund_fee', '$.bill_type', '$.refund_phase',
                                     '$.modified'])::VARCHAR[] AS f
    FROM window_events
    WHERE domain = 'refund'
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       j_int(f[1]) AS refund_id, j_int(f[2]) AS tid, j_int(f[3]) AS oid, j_text(f[4]) AS seller_nick,
       j_text(f[5]) AS buyer_nick, j_text(f[6]) AS buyer_open_uid, j_money(f[7]) AS refund_fee,
       j_text(f[8]) AS bill_type, j_text(f[9]) AS refund_phase, j_time(f[10]) AS modified,
       content
FROM events
