-- item_history: one row per version of an item, slowly changing type 2 (contract v2 §6.4): key (num_iid, version).
-- Computed in full from item_events (§3). An item's events are walked in the order of §4: (pub_time, item lifecycle
-- rank, message_id); the rank is an inline CASE equal to the item_rank() macro of sql/internal/macros.sql (no temp
-- macro is used, so the query runs on any connection that sees the tables). The state after each event is what
-- dim_items (§4.3) would show from the events so far: the latest non-NULL seller_nick / title / price / quantity and
-- the status of the latest lifecycle event (ItemAdd/ItemUpshelf -> onsale, ItemDownshelf/ItemPunishDownshelf ->
-- instock, ItemDelete/ItemPunishDelete -> deleted; other types keep it). The first event opens version 1, and each
-- later event whose state IS DISTINCT FROM the state before it (NULL equals NULL) opens the next one; event_type,
-- message_id and changed_fields are those of the opening event, valid_to the next version's valid_from.
-- num_iid is the windows' only partition key and is passed through unchanged, so `WHERE num_iid IN (...)` around
-- this query pushes down into the scan of item_events.
with

events as (
    select
        num_iid,
        pub_time,
        message_id,
        event_type,
        changed_fields,
        seller_nick,
        title,
        price,
        quantity,
        case event_type
            when 'ItemAdd' then 10 when 'ItemUpshelf' then 20 when 'ItemDownshelf' then 40
            when 'ItemPunishDownshelf' then 40 when 'ItemDelete' then 90 when 'ItemPunishDelete' then 90
            else 30
        end as lifecycle_rank,
        case
            when event_type in ('ItemAdd', 'ItemUpshelf') then 'onsale'
            when event_type in ('ItemDownshelf', 'ItemPunishDownshelf') then 'instock'
            when event_type in ('ItemDelete', 'ItemPunishDelete') then 'deleted'
        end as lifecycle_status
    from item_events
),

states as (
    select
        num_iid,
        pub_time,
        message_id,
        event_type,
        changed_fields,
        row_number() over events_so_far as event_number,
        last_value(seller_nick ignore nulls) over events_so_far as seller_nick,
        last_value(title ignore nulls) over events_so_far as title,
        last_value(price ignore nulls) over events_so_far as price,
        last_value(quantity ignore nulls) over events_so_far as quantity,
        last_value(lifecycle_status ignore nulls) over events_so_far as status
    from events
    window events_so_far as (
        partition by num_iid
        order by pub_time, lifecycle_rank, message_id
        rows between unbounded preceding and current row
    )
),

changes as (
    select
        *,
        event_number = 1
            or seller_nick is distinct from lag(seller_nick) over by_event
            or title is distinct from lag(title) over by_event
            or price is distinct from lag(price) over by_event
            or quantity is distinct from lag(quantity) over by_event
            or status is distinct from lag(status) over by_event
            as opens_version
    from states
    window by_event as (partition by num_iid order by event_number)
),

versions as (
    select
        *,
        row_number() over by_version as version,
        lead(pub_time) over by_version as valid_to
    from changes
    where opens_version
    window by_version as (partition by num_iid order by event_number)
),

final as (
    select
        num_iid,
        version::bigint as version,
        pub_time::timestamp as valid_from,
        valid_to::timestamp as valid_to,
        (valid_to is null)::boolean as is_current,
        seller_nick::varchar as seller_nick,
        title::varchar as title,
        status::varchar as status,
        price::decimal(18, 2) as price,
        quantity::bigint as quantity,
        event_type::varchar as event_type,
        message_id::bigint as message_id,
        changed_fields::varchar as changed_fields
    from versions
)

select * from final
