-- trade_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"tid": "VARCHAR", "oid": "VARCHAR", "seller_nick": "VARCHAR",
                                        "buyer_nick": "VARCHAR", "buyer_open_uid": "VARCHAR",
                                        "status": "VARCHAR", "type": "VARCHAR", "payment": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.tid) AS tid, s_int(f.oid) AS oid, f.seller_nick, f.buyer_nick, f.buyer_open_uid, f.status,
       f.type AS trade_type, s_money(f.payment) AS payment,
       content
FROM fields
