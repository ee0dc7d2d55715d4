-- dim_items: one row per num_iid, the item's current state folded from all its item_events (contract §4.3).
-- Refolds the items in etl.dirty_keys (domain 'item'), or every item when $full.
WITH touched AS (
    SELECT DISTINCT key AS num_iid FROM etl.dirty_keys WHERE domain = 'item'
),
events AS (
    SELECT e.*,
        fold_order(e.pub_time, item_rank(e.event_type), e.message_id) AS event_order,
        CASE WHEN e.event_type IN ('ItemAdd', 'ItemUpshelf') THEN 'onsale'
             WHEN e.event_type IN ('ItemDownshelf', 'ItemPunishDownshelf') THEN 'instock'
             WHEN e.event_type IN ('ItemDelete', 'ItemPunishDelete') THEN 'deleted' END AS lifecycle_status
    FROM item_events AS e
    WHERE $full OR e.num_iid IN (SELECT num_iid FROM touched)
),
folded AS (
    SELECT
        num_iid,
        arg_max(seller_nick, event_order) FILTER (WHERE seller_nick IS NOT NULL) AS seller_nick,
        arg_max(title, event_order) FILTER (WHERE title IS NOT NULL) AS title,
        arg_max(price, event_order) FILTER (WHERE price IS NOT NULL) AS price,
        arg_max(quantity, event_order) FILTER (WHERE quantity IS NOT NULL) AS quantity,
        arg_max(lifecycle_status, event_order) FILTER (WHERE lifecycle_status IS NOT NULL) AS status,
        min(pub_time) AS first_event_at,
        max(pub_time) AS last_event_at,
        min(pub_time) FILTER (WHERE event_type IN ('ItemDelete', 'ItemPunishDelete')) AS deleted_at,
        count(*) AS event_count
    FROM events
    GROUP BY num_iid
)
SELECT * FROM folded
