-- item_events: one row per platform message of topics taobao_item_*, from the window being rebuilt
-- (temp table window_events, see sql/internal/window_events.sql).
WITH events AS (
    SELECT *, json_extract(content, ['$.num_iid', '$.nick', '$.title', '$.price', '$.num', '$.sku_id',
                                     '$.sku_num', '$.changed_fields'])::VARCHAR[] AS f
    FROM window_events
    WHERE domain = 'item'
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       j_int(f[1]) AS num_iid, j_text(f[2]) AS seller_nick, j_text(f[3]) AS title, j_money(f[4]) AS price,
       j_int(f[5]) AS quantity, j_int(f[6]) AS sku_id, j_int(f[7]) AS sku_quantity, j_text(f[8]) AS changed_fields,
       content
FROM events
