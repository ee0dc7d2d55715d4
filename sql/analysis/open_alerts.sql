-- Open alerts for customer care and downstream jobs (`jushita-etl alerts`): the shipment alerts and the refunds
-- to intercept, one row each, newest first. $alert_type and $seller_nick filter when not NULL (a refund to
-- intercept has the type refund_interception and is open since the refund was created).
WITH shipment AS (
    SELECT alert_type, tid, out_sid, NULL::BIGINT AS refund_id, seller_nick, buyer_nick, company_name, last_action,
           since, hours_open, NULL::DECIMAL(18,2) AS refund_fee, as_of
    FROM shipment_alerts
),
refund AS (
    SELECT 'refund_interception' AS alert_type, tid, out_sid, refund_id, seller_nick, buyer_nick, company_name,
           last_action, refund_created_at AS since,
           hours_open, refund_fee, as_of
    FROM refund_interceptions
),
final AS (
    SELECT * FROM shipment
    UNION ALL
    SELECT * FROM refund
)
SELECT * FROM final
WHERE ($alert_type IS NULL OR alert_type = $alert_type) AND ($seller_nick IS NULL OR seller_nick = $seller_nick)
ORDER BY since DESC, alert_type, tid, out_sid
