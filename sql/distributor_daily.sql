-- distributor_daily: one row per (supplier_username, distributor_username, event_date) of fenxiao_events, NULLs
-- grouping together (contract v2 §6.5). Computed in full from fenxiao_events (§3). An order is
-- coalesce(fenxiao_id, sub_order_id); each orders_*/refunds_succeeded count is of distinct non-NULL orders among the
-- group's events of that event type; the amounts are sums over those events' rows (0.00 when none has one).
-- The group columns (already VARCHAR, VARCHAR, DATE in fenxiao_events) are passed through unchanged, with no cast,
-- so a filter on them pushes down into the scan.
with

events as (
    select
        supplier_username,
        distributor_username,
        event_date,
        event_type,
        coalesce(fenxiao_id, sub_order_id) as order_id,
        distributor_payment,
        refund_fee
    from fenxiao_events
),

daily as (
    select
        supplier_username,
        distributor_username,
        event_date,
        count(distinct order_id) filter (where event_type = 'FxOrderCreate') as orders_created,
        count(distinct order_id) filter (where event_type = 'FxOrderPaid') as orders_paid,
        count(distinct order_id) filter (where event_type = 'FxOrderShipped') as orders_shipped,
        count(distinct order_id) filter (where event_type = 'FxOrderSuccess') as orders_succeeded,
        count(distinct order_id) filter (where event_type = 'FxOrderClosed') as orders_closed,
        sum(distributor_payment) filter (where event_type = 'FxOrderPaid') as paid_amount,
        count(distinct order_id) filter (where event_type = 'FxRefundSuccess') as refunds_succeeded,
        sum(refund_fee) filter (where event_type = 'FxRefundSuccess') as refund_amount,
        count(*) as events
    from events
    group by supplier_username, distributor_username, event_date
),

final as (
    select
        supplier_username,
        distributor_username,
        event_date,
        orders_created::bigint as orders_created,
        orders_paid::bigint as orders_paid,
        orders_shipped::bigint as orders_shipped,
        orders_succeeded::bigint as orders_succeeded,
        orders_closed::bigint as orders_closed,
        coalesce(paid_amount, 0)::decimal(18, 2) as paid_amount,
        refunds_succeeded::bigint as refunds_succeeded,
        coalesce(refund_amount, 0)::decimal(18, 2) as refund_amount,
        events::bigint as events
    from daily
)

select * from final
