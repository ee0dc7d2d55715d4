-- fact_orders: one row per tid, its current state folded from all its trade_events (contract §4.1), with the
-- refunded amount from fact_refunds. Refolds the tids in etl.dirty_keys (domain 'trade': touched by trade
-- events, or by refunds whose state changed), or every tid when $full.
WITH touched AS (
    SELECT DISTINCT key AS tid FROM etl.dirty_keys WHERE domain = 'trade'
),
events AS (
    SELECT e.*, fold_order(e.pub_time, trade_rank(e.event_type), e.message_id) AS event_order
    FROM trade_events AS e
    WHERE $full OR e.tid IN (SELECT tid FROM touched)
),
refunded AS (
    SELECT tid, sum(refund_fee) AS refunded_amount
    FROM fact_refunds
    WHERE status = 'SUCCESS' AND ($full OR tid IN (SELECT tid FROM touched))
    GROUP BY tid
),
folded AS (
    SELECT
        tid,
        arg_max(seller_nick, event_order) FILTER (WHERE seller_nick IS NOT NULL) AS seller_nick,
        arg_max(buyer_nick, event_order) FILTER (WHERE buyer_nick IS NOT NULL) AS buyer_nick,
        arg_max(buyer_open_uid, event_order) FILTER (WHERE buyer_open_uid IS NOT NULL) AS buyer_open_uid,
        arg_max(trade_type, event_order) FILTER (WHERE trade_type IS NOT NULL) AS trade_type,
        arg_max(status, event_order) FILTER (WHERE status IS NOT NULL) AS status,
        arg_max(payment, event_order) FILTER (WHERE payment IS NOT NULL) AS payment,
        min(pub_time) FILTER (WHERE event_type = 'TradeCreate') AS created_at,
        min(pub_time) FILTER (WHERE event_type = 'TradeBuyerPay') AS paid_at,
        min(pub_time) FILTER (WHERE event_type IN ('TradeSellerShip', 'TradePartlySellerShip')) AS shipped_at,
        min(pub_time) FILTER (WHERE event_type = 'TradeSuccess') AS finished_at,
        min(pub_time) FILTER (WHERE event_type = 'TradeClose') AS closed_at,
        min(pub_time) AS first_event_at,
        max(pub_time) AS last_event_at,
        count(*) AS event_count
    FROM events
    GROUP BY tid
)
SELECT folded.*, coalesce(refunded.refunded_amount, 0)::DECIMAL(18,2) AS refunded_amount
FROM folded LEFT JOIN refunded USING (tid)
