-- fenxiao_events: one row per platform message of topics taobao_fenxiao_*, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.fenxiao_id', '$.sub_order_id', '$.tc_order_id', '$.supplier_username',
                                            '$.distributor_username', '$.trade_type', '$.refund_fee',
                                            '$.distributor_payment']) AS f
    FROM pending_events('fenxiao')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS fenxiao_id, s_int(f[2]) AS sub_order_id, s_int(f[3]) AS tc_order_id,
       f[4] AS supplier_username, f[5] AS distributor_username, f[6] AS trade_type,
       s_money(f[7]) AS refund_fee, s_money(f[8]) AS distributor_payment,
       content
FROM events
