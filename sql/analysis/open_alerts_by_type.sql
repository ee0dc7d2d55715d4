-- 物流 (customer-care lead): open shipment alerts by type and seller, with the longest wait.
SELECT alert_type, seller_nick, count(*) AS alerts, max(hours_open) AS longest_hours_open
FROM shipment_alerts
GROUP BY ALL
ORDER BY alerts DESC, alert_type, seller_nick
LIMIT 10
