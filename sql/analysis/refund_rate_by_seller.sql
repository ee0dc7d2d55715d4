-- Refund rate by seller: share of each seller's paid orders with a successful refund.
WITH paid AS (
    SELECT seller_nick, tid, refunded_amount FROM fact_orders WHERE paid_at IS NOT NULL
)
SELECT seller_nick, count(*) AS paid_orders,
       count(*) FILTER (WHERE refunded_amount > 0) AS refunded_orders,
       round(100.0 * count(*) FILTER (WHERE refunded_amount > 0) / count(*), 2) AS refund_rate_pct
FROM paid
GROUP BY seller_nick
ORDER BY refund_rate_pct DESC, seller_nick
