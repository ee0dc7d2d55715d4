-- shipment_alerts: one row per alert, key (alert_type, tid, out_sid) (contract v2 §6.1). Computed in full from
-- fact_shipments, fact_orders and the watermark view (W, the largest pub_time of the six event tables, §6; NULL on an
-- empty warehouse, and then no row). Each shipment gets at most one alert, the first whose condition holds in the
-- order delivery_failed, delivery_stalled, transport_stalled, pickup_delayed; each order gets consign_delayed (paid,
-- not shipped / finished / closed, no fact_shipments row, out_sid NULL). "last_action is not SIGNED" holds for a
-- NULL last_action too (IS DISTINCT FROM).
-- Thresholds are bound parameters in hours ($delivery_hours, $transport_hours, $pickup_hours, $consign_hours; the
-- caller applies the defaults 24, 48, 24, 48) and compare the unrounded duration strictly: W - since in integer
-- microseconds > hours * 3,600,000,000. hours_open is exact: tenths of an hour = microseconds / 360,000,000 rounded
-- half away from zero in integer arithmetic, then scaled to DECIMAL(10,1) by a decimal (exact) multiplication.
with

shipments as (
    select
        tid, out_sid, company_name, last_action, last_description,
        consigned_at, picked_up_at, signed_at, last_trace_at
    from fact_shipments
),

orders as (
    select tid, seller_nick, buyer_nick, paid_at, shipped_at, finished_at, closed_at
    from fact_orders
),

shipment_durations as (
    select
        shipments.*,
        watermark.w,
        epoch_us(watermark.w) - epoch_us(shipments.last_trace_at) as us_since_last_trace,
        epoch_us(watermark.w) - epoch_us(shipments.consigned_at) as us_since_consigned
    from shipments
    cross join watermark
    where watermark.w is not null
),

shipment_alerts as (
    select
        *,
        case
            when last_action in ('FAILED', 'LOST')
                then 'delivery_failed'
            when last_action = 'SENT_SCAN' and signed_at is null
                and us_since_last_trace > $delivery_hours * 3600000000
                then 'delivery_stalled'
            when picked_up_at is not null and signed_at is null and last_action is distinct from 'SIGNED'
                and us_since_last_trace > $transport_hours * 3600000000
                then 'transport_stalled'
            when consigned_at is not null and picked_up_at is null and signed_at is null
                and last_action is distinct from 'SIGNED'
                and us_since_consigned > $pickup_hours * 3600000000
                then 'pickup_delayed'
        end as alert_type
    from shipment_durations
),

shipment_alert_rows as (
    select
        alert_type,
        tid,
        out_sid,
        company_name,
        last_action,
        last_description,
        case when alert_type = 'pickup_delayed' then consigned_at else last_trace_at end as since,
        case when alert_type = 'pickup_delayed' then us_since_consigned else us_since_last_trace end as us_open,
        w
    from shipment_alerts
    where alert_type is not null
),

unshipped_orders as (
    select
        orders.tid,
        orders.paid_at,
        watermark.w,
        epoch_us(watermark.w) - epoch_us(orders.paid_at) as us_since_paid
    from orders
    cross join watermark
    where watermark.w is not null
        and orders.paid_at is not null
        and orders.shipped_at is null
        and orders.finished_at is null
        and orders.closed_at is null
        -- fact_shipments itself, for its tids alone: read through the shipments CTE, that CTE (every shipment, with
        -- its text columns) was materialized for its two readers
        and not exists (select 1 from fact_shipments where fact_shipments.tid = orders.tid)
),

order_alert_rows as (
    select
        'consign_delayed' as alert_type,
        tid,
        null::varchar as out_sid,
        null::varchar as company_name,
        null::varchar as last_action,
        null::varchar as last_description,
        paid_at as since,
        us_since_paid as us_open,
        w
    from unshipped_orders
    where us_since_paid > $consign_hours * 3600000000
),

alerts as (
    select * from shipment_alert_rows
    union all
    select * from order_alert_rows
),

timed_alerts as (
    select
        *,
        -- tenths of an hour, rounded half away from zero: |us| / 360,000,000 + 1/2, floored, with the sign put back
        sign(us_open) * ((abs(us_open) + 180000000) // 360000000) as tenths_open
    from alerts
),

final as (
    select
        timed_alerts.alert_type::varchar as alert_type,
        timed_alerts.tid::bigint as tid,
        timed_alerts.out_sid::varchar as out_sid,
        orders.seller_nick::varchar as seller_nick,
        orders.buyer_nick::varchar as buyer_nick,
        timed_alerts.company_name::varchar as company_name,
        timed_alerts.last_action::varchar as last_action,
        timed_alerts.last_description::varchar as last_description,
        timed_alerts.since::timestamp as since,
        (timed_alerts.tenths_open::decimal(18, 0) * 0.1::decimal(2, 1))::decimal(10, 1) as hours_open,
        timed_alerts.w::timestamp as as_of
    from timed_alerts
    -- the orders of the alerts only, not every order of the history
    left join (select tid, seller_nick, buyer_nick from fact_orders where tid in (select tid from timed_alerts)) as orders
        on orders.tid = timed_alerts.tid
)

select * from final
