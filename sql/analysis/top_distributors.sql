-- 分销 (channel manager): distributors by paid amount across suppliers, with their refunds.
SELECT distributor_username, count(DISTINCT supplier_username) AS suppliers, sum(orders_paid)::BIGINT AS orders_paid,
       sum(paid_amount) AS paid_amount, sum(refund_amount) AS refund_amount
FROM distributor_daily
GROUP BY distributor_username
ORDER BY paid_amount DESC, distributor_username
LIMIT 10
