-- Median hours from payment to signature, over orders whose shipment was signed for.
WITH signed AS (
    SELECT o.tid, o.paid_at, min(s.signed_at) AS signed_at
    FROM fact_orders AS o JOIN fact_shipments AS s USING (tid)
    WHERE o.paid_at IS NOT NULL AND s.signed_at IS NOT NULL
    GROUP BY o.tid, o.paid_at
)
SELECT count(*) AS signed_orders,
       round(median(date_diff('second', paid_at, signed_at)) / 3600.0, 1) AS median_hours_payment_to_signature
FROM signed
