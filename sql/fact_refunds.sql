-- fact_refunds: one row per refund_id, its current state folded from all its refund_events (contract §4.2).
-- Refolds the refunds listed in etl.dirty_keys (domain 'refund'), or every refund when $full.
WITH touched AS (
    SELECT DISTINCT key AS refund_id FROM etl.dirty_keys WHERE domain = 'refund'
),
events AS (
    SELECT e.*,
        fold_order(e.pub_time, refund_rank(e.event_type), e.message_id) AS event_order,
        CASE e.event_type
            WHEN 'RefundCreated' THEN 'WAIT_SELLER_AGREE'
            WHEN 'RefundBuyerModifyAgreement' THEN 'WAIT_SELLER_AGREE'
            WHEN 'RefundSellerAgreeAgreement' THEN 'WAIT_BUYER_RETURN_GOODS'
            WHEN 'RefundSellerRefuseAgreement' THEN 'SELLER_REFUSE_BUYER'
            WHEN 'RefundBuyerReturnGoods' THEN 'WAIT_SELLER_CONFIRM_GOODS'
            WHEN 'RefundSuccess' THEN 'SUCCESS'
            WHEN 'RefundClosed' THEN 'CLOSED'
        END AS lifecycle_status
    FROM refund_events AS e
    WHERE $full OR e.refund_id IN (SELECT refund_id FROM touched)
),
folded AS (
    SELECT
        refund_id,
        arg_max(tid, event_order) FILTER (WHERE tid IS NOT NULL) AS tid,
        arg_max(oid, event_order) FILTER (WHERE oid IS NOT NULL) AS oid,
        arg_max(seller_nick, event_order) FILTER (WHERE seller_nick IS NOT NULL) AS seller_nick,
        arg_max(buyer_nick, event_order) FILTER (WHERE buyer_nick IS NOT NULL) AS buyer_nick,
        arg_max(buyer_open_uid, event_order) FILTER (WHERE buyer_open_uid IS NOT NULL) AS buyer_open_uid,
        arg_max(bill_type, event_order) FILTER (WHERE bill_type IS NOT NULL) AS bill_type,
        arg_max(refund_phase, event_order) FILTER (WHERE refund_phase IS NOT NULL) AS refund_phase,
        arg_max(refund_fee, event_order) FILTER (WHERE refund_fee IS NOT NULL) AS refund_fee,
        arg_max(lifecycle_status, event_order) FILTER (WHERE lifecycle_status IS NOT NULL) AS status,
        min(pub_time) FILTER (WHERE event_type = 'RefundCreated') AS created_at,
        min(pub_time) FILTER (WHERE event_type = 'RefundSellerAgreeAgreement') AS agreed_at,
        min(pub_time) FILTER (WHERE event_type = 'RefundSellerRefuseAgreement') AS refused_at,
        min(pub_time) FILTER (WHERE event_type = 'RefundBuyerReturnGoods') AS goods_returned_at,
        min(pub_time) FILTER (WHERE event_type = 'RefundSuccess') AS succeeded_at,
        min(pub_time) FILTER (WHERE event_type = 'RefundClosed') AS closed_at,
        max(pub_time) AS last_event_at,
        count(*) AS event_count
    FROM events
    GROUP BY refund_id
)
SELECT * FROM folded
