-- item_events: one row per platform message of topics taobao_item_*, from the messages
-- queued for it (pending_events, see sql/internal/macros.sql and pending_events.sql).
WITH events AS (
    SELECT *, json_extract_string(content, ['$.num_iid', '$.nick', '$.title', '$.price', '$.num', '$.sku_id',
                                            '$.sku_num', '$.changed_fields']) AS f
    FROM pending_events('item')
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f[1]) AS num_iid, f[2] AS seller_nick, f[3] AS title, s_money(f[4]) AS price,
       s_int(f[5]) AS quantity, s_int(f[6]) AS sku_id, s_int(f[7]) AS sku_quantity, f[8] AS changed_fields,
       content
FROM events
