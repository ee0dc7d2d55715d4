-- refund_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"refund_id": "VARCHAR", "tid": "VARCHAR", "oid": "VARCHAR",
                                        "seller_nick": "VARCHAR", "buyer_nick": "VARCHAR",
                                        "buyer_open_uid": "VARCHAR", "refund_fee": "VARCHAR",
                                        "bill_type": "VARCHAR", "refund_phase": "VARCHAR",
                                        "modified": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.refund_id) AS refund_id, s_int(f.tid) AS tid, s_int(f.oid) AS oid, f.seller_nick, f.buyer_nick,
       f.buyer_open_uid, s_money(f.refund_fee) AS refund_fee, f.bill_type, f.refund_phase,
       s_time(f.modified, content, '$.modified') AS modified,
       content
FROM fields
