-- GMV by day: paid orders' payment summed by the China date of payment.
WITH paid AS (
    SELECT paid_at::DATE AS day, payment FROM fact_orders WHERE paid_at IS NOT NULL
)
SELECT day, count(*) AS paid_orders, sum(payment) AS gmv
FROM paid
GROUP BY day
ORDER BY day
