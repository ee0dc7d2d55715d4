-- refund_interceptions: one row per refund on a parcel that can still be stopped, key refund_id (contract v2 §6.2).
-- Computed in full from fact_refunds, fact_orders, fact_shipments and the watermark view (W, the largest pub_time of the
-- six event tables, §6; NULL on an empty warehouse, and then no row). Listed: status WAIT_SELLER_AGREE,
-- WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS or SUCCESS; tid not NULL; the order shipped (fact_orders.shipped_at
-- not NULL, or the tid has a fact_shipments row); no shipment of the tid signed (signed_at not NULL or last_action
-- 'SIGNED'; a NULL last_action counts as not SIGNED). The parcel columns come from the tid's shipment with the
-- largest last_trace_at (ties: largest out_sid). hours_open is exact: tenths of an hour = microseconds from
-- coalesce(created_at, last_event_at) to W / 360,000,000, rounded half away from zero in integer arithmetic, then
-- scaled to DECIMAL(10,1) by a decimal (exact) multiplication.
with

refunds as (
    -- the refunds in a stoppable state only: the orders and parcels are then read for their tids alone, not for the
    -- whole history
    select
        refund_id, tid, seller_nick, buyer_nick, refund_fee, status, refund_phase, created_at, last_event_at
    from fact_refunds
    where status in ('WAIT_SELLER_AGREE', 'WAIT_BUYER_RETURN_GOODS', 'WAIT_SELLER_CONFIRM_GOODS', 'SUCCESS')
        and tid is not null
),

orders as (
    select tid, seller_nick, buyer_nick, shipped_at
    from fact_orders
    where tid in (select tid from refunds)
),

shipments as (
    select tid, out_sid, company_name, last_action, consigned_at, signed_at, last_trace_at
    from fact_shipments
    where tid in (select tid from refunds)
),

parcels as (
    select
        tid,
        count(*) as parcel_count,
        count(*) filter (where signed_at is not null or last_action = 'SIGNED') as signed_count,
        min(consigned_at) as first_consigned_at,
        arg_max(
            {'out_sid': out_sid, 'company_name': company_name, 'last_action': last_action,
             'last_trace_at': last_trace_at},
            (last_trace_at, out_sid)
        ) as latest
    from shipments
    group by tid
),

candidates as (
    select
        refunds.*,
        orders.seller_nick as order_seller_nick,
        orders.buyer_nick as order_buyer_nick,
        orders.shipped_at as order_shipped_at,
        parcels.parcel_count,
        parcels.signed_count,
        parcels.first_consigned_at,
        parcels.latest,
        watermark.w
    from refunds
    cross join watermark
    left join orders on orders.tid = refunds.tid
    left join parcels on parcels.tid = refunds.tid
    where watermark.w is not null
        and (orders.shipped_at is not null or parcels.tid is not null)
        and coalesce(parcels.signed_count, 0) = 0
),

timed as (
    select
        *,
        epoch_us(w) - epoch_us(coalesce(created_at, last_event_at)) as us_open
    from candidates
),

final as (
    select
        refund_id::bigint as refund_id,
        tid::bigint as tid,
        coalesce(seller_nick, order_seller_nick)::varchar as seller_nick,
        coalesce(buyer_nick, order_buyer_nick)::varchar as buyer_nick,
        refund_fee::decimal(18, 2) as refund_fee,
        status::varchar as refund_status,
        refund_phase::varchar as refund_phase,
        created_at::timestamp as refund_created_at,
        coalesce(order_shipped_at, first_consigned_at)::timestamp as shipped_at,
        latest.out_sid::varchar as out_sid,
        latest.company_name::varchar as company_name,
        latest.last_action::varchar as last_action,
        latest.last_trace_at::timestamp as last_trace_at,
        coalesce(parcel_count, 0)::bigint as unsigned_parcels,
        -- tenths of an hour, rounded half away from zero: |us| / 360,000,000 + 1/2, floored, with the sign put back
        ((sign(us_open) * ((abs(us_open) + 180000000) // 360000000))::decimal(18, 0) * 0.1::decimal(2, 1))
            ::decimal(10, 1) as hours_open,
        w::timestamp as as_of
    from timed
)

select * from final
