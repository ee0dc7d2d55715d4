-- item_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"num_iid": "VARCHAR", "nick": "VARCHAR", "title": "VARCHAR",
                                        "price": "VARCHAR", "num": "VARCHAR", "sku_id": "VARCHAR",
                                        "sku_num": "VARCHAR", "changed_fields": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.num_iid) AS num_iid, f.nick AS seller_nick, f.title, s_money(f.price) AS price,
       s_int(f.num) AS quantity, s_int(f.sku_id) AS sku_id, s_int(f.sku_num) AS sku_quantity, f.changed_fields,
       content
FROM fields
