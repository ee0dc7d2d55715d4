-- fenxiao_events: the content fields of the new canonical copies of its messages (new_events, see
-- sql/internal/canonical_copies.sql), bound by name; its grain, key and topics are in sql/tables.yml.
WITH events AS (
    SELECT * FROM new_events WHERE domain = $domain
),
fields AS (
    -- each field as json_extract_string would give it: text as given, NULL when missing or null (macros.sql)
    SELECT *, json_transform(content, '{"fenxiao_id": "VARCHAR", "sub_order_id": "VARCHAR",
                                        "tc_order_id": "VARCHAR", "supplier_username": "VARCHAR",
                                        "distributor_username": "VARCHAR", "trade_type": "VARCHAR",
                                        "refund_fee": "VARCHAR", "distributor_payment": "VARCHAR"}') AS f
    FROM events
)
SELECT message_id, topic, event_type, user_id, user_nick, pub_time, event_date,
       s_int(f.fenxiao_id) AS fenxiao_id, s_int(f.sub_order_id) AS sub_order_id,
       s_int(f.tc_order_id) AS tc_order_id, f.supplier_username, f.distributor_username, f.trade_type,
       s_money(f.refund_fee) AS refund_fee, s_money(f.distributor_payment) AS distributor_payment,
       content
FROM fields
