-- 退款 (finance approver): refunds whose parcels can still be stopped, by seller and refund status, with the money
-- at stake.
SELECT seller_nick, refund_status, count(*) AS refunds, sum(refund_fee) AS refund_fee, max(hours_open) AS oldest_hours
FROM refund_interceptions
GROUP BY ALL
ORDER BY refund_fee DESC NULLS LAST
LIMIT 10
